import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type KeyBackend, SealOpenError } from './backend.js';
import {
  additionalData,
  DATA_KEY_BYTES,
  encodeHeader,
  fromText,
  NONCE_BYTES,
  parseEnvelope,
  type SealContext,
  toText,
} from './format.js';

/** Options of {@link createSealer}. */
export interface SealerOptions {
  /** Wraps and unwraps the data keys (`localKey`, `pkcs11Key`, your KMS). Required. */
  backend: KeyBackend;
  /**
   * How long an unwrapped data key stays in memory: a busy server does one backend operation per
   * record per window, and warm records keep opening while the backend is down. `0` disables
   * the cache. Default: `300_000` (5 minutes).
   */
  dataKeyTtlMs?: number;
  /** Most unwrapped data keys kept (oldest dropped first). Default: `10_000`. */
  maxDataKeys?: number;
  /** Current time in epoch ms. Default: `Date.now`. */
  clock?: () => number;
  /**
   * Source of random bytes (data keys, nonces). For known-answer tests only. Default:
   * `node:crypto` `randomBytes`.
   */
  randomBytes?: (size: number) => Buffer;
}

/** Seals and opens records with one backend. */
export interface Sealer {
  readonly backend: KeyBackend;
  /** Seals `plaintext` for the record at `context`, wrapping its data key with `keyId` (default: the backend's current key). */
  seal(
    plaintext: string | Uint8Array,
    context: SealContext,
    options?: { keyId?: string },
  ): Promise<Buffer>;
  /** {@link seal} in text form (`$acse$…`), for text columns. */
  sealText(
    plaintext: string | Uint8Array,
    context: SealContext,
    options?: { keyId?: string },
  ): Promise<string>;
  /**
   * Opens a record. Throws `SealFormatError` (not an envelope / unknown version), `SealOpenError`
   * (other backend, unknown key, altered bytes or wrong context) or `KeyBackendUnavailableError`.
   */
  open(envelope: Uint8Array, context: SealContext): Promise<Buffer>;
  /** {@link open} of the text form, decoded as UTF-8. */
  openText(text: string, context: SealContext): Promise<string>;
  /**
   * Re-wraps a record for `keyId`: opens it and seals it again (a new data key, the same
   * context). The result opens only at the same context.
   */
  rewrap(envelope: Uint8Array, context: SealContext, keyId: string): Promise<Buffer>;
  /** Counters: backend operations and data-key cache hits. */
  stats(): { wraps: number; unwraps: number; cacheHits: number; cachedKeys: number };
  /** Forgets (and zeroes) every cached data key. */
  clear(): void;
}

/**
 * Creates a {@link Sealer}: AES-256-GCM with a random data key per record, wrapped by the
 * backend, AAD = header + table + column + row id (see `format.ts`).
 */
export function createSealer(options: SealerOptions): Sealer {
  const { backend } = options ?? {};
  if (
    !backend ||
    typeof backend.wrapKey !== 'function' ||
    typeof backend.unwrapKey !== 'function'
  ) {
    throw new TypeError('createSealer: options.backend must be a key backend');
  }
  const ttl = options.dataKeyTtlMs ?? 300_000;
  const max = options.maxDataKeys ?? 10_000;
  if (!Number.isFinite(ttl) || ttl < 0)
    throw new TypeError('createSealer: dataKeyTtlMs must be ≥ 0');
  if (!Number.isInteger(max) || max < 1)
    throw new TypeError('createSealer: maxDataKeys must be ≥ 1');
  const clock = options.clock ?? Date.now;
  const random = options.randomBytes ?? randomBytes;
  // Unwrapped data keys by (key id, wrapped key): Map order is insertion order, so the first
  // entry is the oldest. Loads in flight are shared (one backend call per key per window).
  const cache = new Map<string, { key: Buffer; until: number }>();
  const loading = new Map<string, Promise<Buffer>>();
  let wraps = 0;
  let unwraps = 0;
  let cacheHits = 0;

  const drop = (id: string) => {
    const entry = cache.get(id);
    if (entry) {
      entry.key.fill(0);
      cache.delete(id);
    }
  };

  const dataKeyOf = async (wrapped: Buffer, keyId: string): Promise<Buffer> => {
    if (ttl === 0) {
      unwraps++;
      return backend.unwrapKey(wrapped, keyId);
    }
    const id = `${keyId}\n${wrapped.toString('base64')}`;
    const entry = cache.get(id);
    if (entry && entry.until > clock()) {
      cacheHits++;
      return entry.key;
    }
    if (entry) drop(id);
    let pending = loading.get(id);
    if (!pending) {
      unwraps++;
      pending = backend.unwrapKey(wrapped, keyId).then(
        (key) => {
          loading.delete(id);
          if (key.length !== DATA_KEY_BYTES)
            throw new SealOpenError('seal: unwrapped data key has the wrong length');
          while (cache.size >= max) drop(cache.keys().next().value!);
          cache.set(id, { key, until: clock() + ttl });
          return key;
        },
        (error) => {
          loading.delete(id);
          throw error;
        },
      );
      loading.set(id, pending);
    }
    return pending;
  };

  const seal: Sealer['seal'] = async (plaintext, context, sealOptions) => {
    const keyId = sealOptions?.keyId ?? backend.currentKeyId;
    const dataKey = random(DATA_KEY_BYTES);
    try {
      wraps++;
      const wrappedKey = await backend.wrapKey(dataKey, keyId);
      const nonce = random(NONCE_BYTES);
      const header = encodeHeader({ backend: backend.tag, keyId, wrappedKey, nonce });
      const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
      cipher.setAAD(additionalData(header, context));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      return Buffer.concat([header, cipher.update(data), cipher.final(), cipher.getAuthTag()]);
    } finally {
      dataKey.fill(0);
    }
  };

  const open: Sealer['open'] = async (envelope, context) => {
    const parsed = parseEnvelope(envelope);
    if (parsed.backend !== backend.tag) {
      throw new SealOpenError(
        `seal: this record was sealed by the "${parsed.backend}" backend, but the configured backend is "${backend.tag}"`,
      );
    }
    const aad = additionalData(parsed.headerBytes, context);
    const dataKey = await dataKeyOf(parsed.wrappedKey, parsed.keyId);
    const decipher = createDecipheriv('aes-256-gcm', dataKey, parsed.nonce);
    decipher.setAAD(aad);
    decipher.setAuthTag(parsed.tag);
    try {
      return Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
    } catch {
      throw new SealOpenError(
        'seal: the record failed authentication (altered, or moved to another table, column or row)',
      );
    } finally {
      if (ttl === 0) dataKey.fill(0);
    }
  };

  return {
    backend,
    seal,
    sealText: async (plaintext, context, o) => toText(await seal(plaintext, context, o)),
    open,
    openText: async (text, context) => (await open(fromText(text), context)).toString('utf8'),
    async rewrap(envelope, context, keyId) {
      const plaintext = await open(envelope, context);
      try {
        return await seal(plaintext, context, { keyId });
      } finally {
        plaintext.fill(0);
      }
    },
    stats: () => ({ wraps, unwraps, cacheHits, cachedKeys: cache.size }),
    clear() {
      for (const id of [...cache.keys()]) drop(id);
    },
  };
}
