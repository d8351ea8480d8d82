import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * What seals access-key secrets: a {@link SecretKeyring}, or a keyring whose key lives in a
 * backend that answers asynchronously (an HSM or KMS: `createSealedKeyring` of `@authcache/seal`).
 * `open` may reject with an error whose `unavailable` property is `true` when the key backend
 * cannot be reached: the request then answers 503 (`ServiceUnavailable`), not 500.
 */
export interface SecretSealer {
  /** Id of the key new envelopes are sealed with. */
  readonly currentKeyId: string;
  /** Seals `plaintext`; `context` (the access key id) must be given again to open it. */
  seal(plaintext: string, context: string): string | Promise<string>;
  /** Opens an envelope; throws (or rejects) when it does not open. */
  open(envelope: string, context: string): string | Promise<string>;
  /** The id of the key that sealed `envelope`, or `undefined` when it is not an envelope. */
  keyIdOf(envelope: string): string | undefined;
}

/**
 * Encrypts access-key secrets at rest. The envelope names the key that sealed it, so keys can
 * rotate: seal with the current key, open with any key still in the ring.
 */
export interface SecretKeyring extends SecretSealer {
  /** Id of the key new envelopes are sealed with. */
  readonly currentKeyId: string;
  /** Seals `plaintext`; `context` (e.g. the access key id) must be given again to open it. */
  seal(plaintext: string, context: string): string;
  /** Opens an envelope. Throws when the key is unknown, or the envelope or context was altered. */
  open(envelope: string, context: string): string;
  /** The id of the key that sealed `envelope`, or `undefined` when it is not an envelope. */
  keyIdOf(envelope: string): string | undefined;
}

/** Options of {@link createSecretKeyring}. */
export interface SecretKeyringOptions {
  /**
   * Key id → 32-byte AES-256 key (a Buffer, or a base64/base64url string of 32 bytes). Key ids
   * are 1–32 characters of `[A-Za-z0-9_-]`. Keep retired keys here until every envelope was
   * re-sealed (`rewrapAccessKeys`). Required.
   */
  keys: Readonly<Record<string, Uint8Array | string>>;
  /** The key that seals new envelopes. Default: the only key, when there is exactly one. */
  current?: string;
}

const VERSION = 'v1';
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function decodeKey(id: string, value: Uint8Array | string): Buffer {
  const key = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.from(value);
  if (key.length !== 32) {
    throw new TypeError(`createSecretKeyring: key "${id}" must be 32 bytes (AES-256)`);
  }
  return key;
}

/**
 * An AES-256-GCM keyring. Envelope: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts),
 * with `v1.<keyId>.<context>` as additional authenticated data, so an envelope copied onto
 * another access key's row does not open.
 */
export function createSecretKeyring(options: SecretKeyringOptions): SecretKeyring {
  const entries = Object.entries(options?.keys ?? {});
  if (entries.length === 0)
    throw new TypeError('createSecretKeyring: at least one key is required');
  const keys = new Map<string, Buffer>();
  for (const [id, value] of entries) {
    if (!KEY_ID.test(id)) throw new TypeError(`createSecretKeyring: invalid key id "${id}"`);
    keys.set(id, decodeKey(id, value));
  }
  const current = options.current ?? (entries.length === 1 ? entries[0]![0] : undefined);
  if (current === undefined || !keys.has(current)) {
    throw new TypeError('createSecretKeyring: options.current must name one of the keys');
  }
  const aad = (keyId: string, context: string) =>
    Buffer.from(`${VERSION}.${keyId}.${context}`, 'utf8');

  return {
    currentKeyId: current,
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keys.get(current)!, iv);
      cipher.setAAD(aad(current, context));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [
        VERSION,
        current,
        iv.toString('base64url'),
        ciphertext.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
      ].join('.');
    },
    open(envelope, context) {
      const parts = typeof envelope === 'string' ? envelope.split('.') : [];
      if (parts.length !== 5 || parts[0] !== VERSION)
        throw new Error('keyring: not a secret envelope');
      const [, keyId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
      const key = keys.get(keyId);
      // The message names the key id (not secret) so operators know which key is missing.
      if (!key) throw new Error(`keyring: no key "${keyId}" to open this secret`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(aad(keyId, context));
      const tagBytes = Buffer.from(tag, 'base64url');
      if (tagBytes.length !== TAG_BYTES) throw new Error('keyring: damaged secret envelope');
      decipher.setAuthTag(tagBytes);
      try {
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertext, 'base64url')),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new Error('keyring: secret envelope failed authentication');
      }
    },
    keyIdOf(envelope) {
      const parts = envelope.split('.');
      return parts.length === 5 && parts[0] === VERSION ? parts[1] : undefined;
    },
  };
}
