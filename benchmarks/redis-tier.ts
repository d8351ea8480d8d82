// Finds @authcache/redis without making it a hard dependency: the benchmark runs (and prints
// a note instead of the Redis row) in a checkout that does not have packages/redis yet.
import { existsSync } from 'node:fs';
import type { SharedTier } from '@authcache/core';
import { Redis } from 'ioredis';

/** The part of an ioredis client the benchmark uses. */
export type RedisClientLike = Redis;

export interface LoadedRedisTier {
  redisTier(options: { redis: Redis; prefix: string }): SharedTier;
  /** A connected ioredis client with the options the redis package recommends (fail fast). */
  connect(url: string): Promise<Redis>;
}

const sourcePath = new URL('../packages/redis/src/index.ts', import.meta.url);

export async function loadRedisTier(): Promise<LoadedRedisTier | null> {
  // A non-literal specifier: the package may not exist in this checkout, and tsc must not care.
  const specifiers = ['@authcache/redis', ...(existsSync(sourcePath) ? [sourcePath.href] : [])];
  for (const specifier of specifiers) {
    try {
      const mod = (await import(specifier)) as { redisTier?: LoadedRedisTier['redisTier'] };
      if (typeof mod.redisTier !== 'function') continue;
      return {
        redisTier: mod.redisTier,
        async connect(url) {
          const redis = new Redis(url, {
            enableOfflineQueue: false,
            maxRetriesPerRequest: 1,
            connectTimeout: 1_000,
            lazyConnect: true,
          });
          try {
            await redis.connect();
          } catch (error) {
            redis.disconnect();
            throw error;
          }
          return redis;
        },
      };
    } catch {
      // not resolvable from here: try the next place
    }
  }
  return null;
}

/** Deletes every key under `prefix` (SCAN, never KEYS: the Redis server is shared). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
