import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BackendDescription, type KeyBackend, SealOpenError } from './backend.js';
import { checkKeyId } from './format.js';

/** Options of {@link localKey}. */
export interface LocalKeyOptions {
  /**
   * Key id → 32-byte AES-256 key-encryption key (Buffer, or base64/base64url of 32 bytes). Keep
   * retired keys until `authcache keys rotate` moved every record off them. Required.
   */
  keys: Readonly<Record<string, Uint8Array | string>>;
  /** The key new records are wrapped with. Default: the only key, when there is exactly one. */
  current?: string;
  /**
   * Source of random bytes (the wrap nonce). For known-answer tests only. Default:
   * `node:crypto` `randomBytes`.
   */
  randomBytes?: (size: number) => Buffer;
}

const NONCE = 12;
const TAG = 16;

function decodeKey(id: string, value: Uint8Array | string): Buffer {
  const key = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.from(value);
  if (key.length !== 32) throw new TypeError(`localKey: key "${id}" must be 32 bytes (AES-256)`);
  return key;
}

/**
 * A key held by the process (an environment variable or a file), with key ids: data keys are
 * wrapped with AES-256-GCM as `nonce(12) ‖ ciphertext(32) ‖ tag(16)`, AAD
 * `authcache-seal-local\0<keyId>`. A stolen database is useless without the key; a stolen host
 * is not. For a key that never leaves hardware, use `pkcs11Key`.
 */
export function localKey(options: LocalKeyOptions): KeyBackend {
  const entries = Object.entries(options?.keys ?? {});
  if (entries.length === 0) throw new TypeError('localKey: at least one key is required');
  const keys = new Map<string, Buffer>();
  for (const [id, value] of entries) keys.set(checkKeyId(id), decodeKey(id, value));
  const current = options.current ?? (entries.length === 1 ? entries[0]![0] : undefined);
  if (current === undefined || !keys.has(current)) {
    throw new TypeError('localKey: options.current must name one of the keys');
  }
  const random = options.randomBytes ?? randomBytes;
  const aad = (keyId: string) => Buffer.from(`authcache-seal-local\0${keyId}`, 'utf8');
  const keyOf = (keyId: string) => {
    const key = keys.get(keyId);
    if (!key) throw new SealOpenError(`seal: the local backend has no key "${keyId}"`);
    return key;
  };

  return {
    tag: 'local',
    currentKeyId: current,
    async wrapKey(dataKey, keyId) {
      const nonce = random(NONCE);
      const cipher = createCipheriv('aes-256-gcm', keyOf(keyId), nonce);
      cipher.setAAD(aad(keyId));
      const ct = Buffer.concat([cipher.update(dataKey), cipher.final()]);
      return Buffer.concat([nonce, ct, cipher.getAuthTag()]);
    },
    async unwrapKey(wrapped, keyId) {
      const key = keyOf(keyId);
      if (wrapped.length <= NONCE + TAG) throw new SealOpenError('seal: damaged wrapped key');
      const decipher = createDecipheriv('aes-256-gcm', key, wrapped.subarray(0, NONCE));
      decipher.setAAD(aad(keyId));
      decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG));
      try {
        return Buffer.concat([
          decipher.update(wrapped.subarray(NONCE, wrapped.length - TAG)),
          decipher.final(),
        ]);
      } catch {
        throw new SealOpenError(`seal: the wrapped data key does not open with key "${keyId}"`);
      }
    },
    describe(): BackendDescription {
      return {
        tag: 'local',
        currentKeyId: current,
        keyIds: [...keys.keys()],
        detail: `local key (${keys.size} key id${keys.size === 1 ? '' : 's'})`,
      };
    },
  };
}

/**
 * {@link localKey} from the environment. In order:
 * - `AUTHCACHE_SEAL_KEYS`: `id=base64,id=base64` (several key ids), with `AUTHCACHE_SEAL_CURRENT`
 *   naming the current one (default: the only one);
 * - `AUTHCACHE_SEAL_KEY_FILE`: a file holding `id=base64` lines (or one bare base64 key, id
 *   `file`); relative to `$CREDENTIALS_DIRECTORY` when that is set (systemd `LoadCredential`);
 * - `ACCESS_KEY_ENCRYPTION_KEY`: one base64 key, id `env` (what the examples use).
 * Throws naming the variable, never its value; `undefined` when none is set.
 */
export function localKeyFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): KeyBackend | undefined {
  const parse = (text: string, what: string, bareId: string, bareOnly = false) => {
    const keys: Record<string, string> = {};
    for (const part of text.split(/[,\n]/).map((p) => p.trim())) {
      if (part === '' || part.startsWith('#')) continue;
      // base64 has "=" only as trailing padding: `id=value` has a non-padding rest after it.
      const eq = bareOnly ? -1 : part.indexOf('=');
      const bare = eq <= 0 || /^=*$/.test(part.slice(eq + 1));
      const [id, value] = bare ? [bareId, part] : [part.slice(0, eq), part.slice(eq + 1)];
      if (Buffer.from(value, 'base64').length !== 32) {
        throw new TypeError(`${what}: key "${id}" must be 32 bytes in base64`);
      }
      keys[id] = value;
    }
    return keys;
  };
  const current = env.AUTHCACHE_SEAL_CURRENT || undefined;
  if (env.AUTHCACHE_SEAL_KEYS) {
    return localKey({
      keys: parse(env.AUTHCACHE_SEAL_KEYS, 'AUTHCACHE_SEAL_KEYS', 'env'),
      current,
    });
  }
  if (env.AUTHCACHE_SEAL_KEY_FILE) {
    const path = env.CREDENTIALS_DIRECTORY
      ? join(env.CREDENTIALS_DIRECTORY, env.AUTHCACHE_SEAL_KEY_FILE)
      : env.AUTHCACHE_SEAL_KEY_FILE;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new Error(`AUTHCACHE_SEAL_KEY_FILE: cannot read ${path}`, { cause: error });
    }
    return localKey({ keys: parse(text, 'AUTHCACHE_SEAL_KEY_FILE', 'file'), current });
  }
  if (env.ACCESS_KEY_ENCRYPTION_KEY) {
    return localKey({
      keys: parse(env.ACCESS_KEY_ENCRYPTION_KEY, 'ACCESS_KEY_ENCRYPTION_KEY', 'env', true),
      current,
    });
  }
  return undefined;
}
