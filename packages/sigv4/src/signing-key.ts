import { createHash, createHmac } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** HMAC-SHA256 of `data` under `key`. */
export function hmacSha256(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * Derives SigV4's signing key: HMAC chain over the scope date, region, service and
 * `aws4_request`, starting from `"AWS4" + secret`.
 */
export function deriveSigningKey(
  secret: string | Uint8Array,
  date: string,
  region: string,
  service: string,
): Buffer {
  const seed =
    typeof secret === 'string'
      ? Buffer.from(`AWS4${secret}`, 'utf8')
      : Buffer.concat([Buffer.from('AWS4'), secret]);
  const kDate = hmacSha256(seed, date);
  seed.fill(0);
  const kRegion = hmacSha256(kDate, region);
  const kService = hmacSha256(kRegion, service);
  return hmacSha256(kService, 'aws4_request');
}

/**
 * A short fingerprint of a secret, used as its "version" in signing-key cache keys when the key
 * store gives none: a rotated secret then never reuses a key derived from the old one.
 */
export function secretFingerprint(secret: string | Uint8Array): string {
  return createHash('sha256')
    .update('authcache-sigv4-secret-version\0')
    .update(secret)
    .digest('base64url')
    .slice(0, 22);
}

/** Options of {@link createSigningKeyCache}. */
export interface SigningKeyCacheOptions {
  /**
   * Maximum number of derived keys kept. A key is valid for one (access key, secret version,
   * date, region, service), so this is roughly "active access keys × regions × services".
   * `0` disables caching (every request re-derives, four HMACs). Default: `1_000`.
   */
  max?: number;
}

/** A small LRU of derived signing keys. Never holds a secret, only HMAC outputs. */
export interface SigningKeyCache {
  /** The cached key, or the result of `derive()` stored for next time. */
  get(
    accessKeyId: string,
    secretVersion: string,
    date: string,
    region: string,
    service: string,
    derive: () => Buffer,
  ): Buffer;
  /** The cached key (counted as a hit), or `undefined` without counting a miss. Optional. */
  peek?(
    accessKeyId: string,
    secretVersion: string,
    date: string,
    region: string,
    service: string,
  ): Buffer | undefined;
  /** Forgets every key derived for `accessKeyId` (e.g. after a revoke). */
  deleteAccessKey(accessKeyId: string): void;
  clear(): void;
  stats(): { hits: number; misses: number; size: number };
}

/** Creates a {@link SigningKeyCache}. See {@link SigningKeyCacheOptions} for defaults. */
export function createSigningKeyCache(options: SigningKeyCacheOptions = {}): SigningKeyCache {
  const max = options.max ?? 1_000;
  if (!Number.isInteger(max) || max < 0) {
    throw new TypeError('createSigningKeyCache: max must be a non-negative integer');
  }
  const cache = max > 0 ? new LRUCache<string, Buffer>({ max }) : undefined;
  let hits = 0;
  let misses = 0;
  return {
    get(accessKeyId, secretVersion, date, region, service, derive) {
      // Every part is validated to exclude "\n" before it gets here, so keys cannot collide.
      const key = `${accessKeyId}\n${secretVersion}\n${date}\n${region}\n${service}`;
      const cached = cache?.get(key);
      if (cached !== undefined) {
        hits++;
        return cached;
      }
      misses++;
      const derived = derive();
      cache?.set(key, derived);
      return derived;
    },
    peek(accessKeyId, secretVersion, date, region, service) {
      const cached = cache?.get(`${accessKeyId}\n${secretVersion}\n${date}\n${region}\n${service}`);
      if (cached !== undefined) hits++;
      return cached;
    },
    deleteAccessKey(accessKeyId) {
      if (!cache) return;
      const prefix = `${accessKeyId}\n`;
      for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
    },
    clear() {
      cache?.clear();
    },
    stats: () => ({ hits, misses, size: cache?.size ?? 0 }),
  };
}
