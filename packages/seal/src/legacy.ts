import { createDecipheriv } from 'node:crypto';
import type { LegacyKeyring } from './keyring.js';

/**
 * Reads (never writes) envelopes of the keyring that sealed access-key secrets before this
 * package: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts), AES-256-GCM under the key
 * `keyId`, AAD `v1.<keyId>.<access key id>`. `keys`: key id → 32 bytes (Buffer or base64), e.g.
 * `{ env: process.env.ACCESS_KEY_ENCRYPTION_KEY }` for the examples' key.
 */
export function legacyKeyring(keys: Readonly<Record<string, Uint8Array | string>>): LegacyKeyring {
  const ring = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(keys ?? {})) {
    const key = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.from(value);
    if (key.length !== 32) throw new TypeError(`legacyKeyring: key "${id}" must be 32 bytes`);
    ring.set(id, key);
  }
  const partsOf = (envelope: string) => {
    const parts = typeof envelope === 'string' ? envelope.split('.') : [];
    return parts.length === 5 && parts[0] === 'v1'
      ? (parts as [string, string, string, string, string])
      : undefined;
  };
  return {
    keyIdOf: (envelope) => partsOf(envelope)?.[1],
    open(envelope, context) {
      const parts = partsOf(envelope);
      if (!parts) throw new Error('legacy keyring: not a v1 envelope');
      const [, keyId, iv, ciphertext, tag] = parts;
      const key = ring.get(keyId);
      if (!key) throw new Error(`legacy keyring: no key "${keyId}"`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(`v1.${keyId}.${context}`, 'utf8'));
      const tagBytes = Buffer.from(tag, 'base64url');
      if (tagBytes.length !== 16) throw new Error('legacy keyring: damaged envelope');
      decipher.setAuthTag(tagBytes);
      try {
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertext, 'base64url')),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new Error('legacy keyring: envelope failed authentication');
      }
    },
  };
}
