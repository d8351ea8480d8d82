// The Redis tier for the benchmark's "L1 + Redis" variant, on a client configured the way
// @authcache/redis recommends (fail fast: no offline queue, one retry).
import type { SharedTier } from '@authcache/core';
import { createRedisTier } from '@authcache/redis';
import { Redis } from 'ioredis';

/** The part of an ioredis client the benchmark uses. */
export type RedisClientLike = Redis;

export interface LoadedRedisTier {
  createRedisTier(options: { redis: Redis; prefix: string }): SharedTier;
  /** A connected ioredis client with the options the redis package recommends (fail fast). */
  connect(url: string): Promise<Redis>;
}

export async function loadRedisTier(): Promise<LoadedRedisTier | null> {
  return {
    createRedisTier,
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
