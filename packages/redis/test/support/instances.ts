import { type AuthCache, createAuthCache, type Identity, type TokenStore } from '@authcache/core';
import { createPgBus, createPgTokenStore, type PgBus } from '@authcache/pg';
import { createRedisBus, createRedisTier, type RedisBus, type RedisTier } from '@authcache/redis';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { createPool } from './pg.js';
import { connect, REDIS_URL } from './redis.js';

export const quiet = { warn() {} };

/** A real pg store whose `findByHash` answers can be held after the row was read. */
export function gatedStore(inner: TokenStore) {
  let gate: Promise<void> | undefined;
  let reached: (() => void) | undefined;
  const store: TokenStore = {
    hashToken: inner.hashToken,
    async findByHash(kind, tokenHash) {
      const answer = await inner.findByHash(kind, tokenHash);
      if (gate) {
        reached?.();
        await gate;
      }
      return answer;
    },
    touch: (kind, ids, usedAt, notUsedSince) => inner.touch(kind, ids, usedAt, notUsedSince),
    revoke: (kind, tokenId, options) => inner.revoke(kind, tokenId, options),
  };
  return {
    store,
    /** Holds the next lookups after they read the row; resolves `reached` when one is held. */
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const hit = new Promise<void>((resolve) => {
        reached = resolve;
      });
      return {
        reached: hit,
        release() {
          gate = undefined;
          release();
        },
      };
    },
  };
}

export interface InstanceOptions {
  schema: string;
  prefix: string;
  /** Use a shared tier. Default: true. */
  tier?: boolean;
  /** Which buses. Default: ['redis']. */
  buses?: readonly ('redis' | 'pg')[];
  redisUrl?: string;
  connectionName?: string;
  pgApplicationName?: string;
  tierTimeoutMs?: number;
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  ttl?: number;
  touchFlushDelay?: number;
  gated?: boolean;
  clock?: () => number;
  /**
   * The resolver's `tierSkewMs`. Default here: 0, since every instance of a test shares this
   * machine's clock (with the 1 s default, values filled in an instance's first second would
   * be ignored by design).
   */
  tierSkewMs?: number;
  /** The tier's `signingKey`. Default: none. */
  signingKey?: string;
  storeTimeoutMs?: number;
}

export interface Instance {
  auth: AuthCache;
  redis: Redis;
  pool: pg.Pool;
  tier?: RedisTier;
  createRedisBus?: RedisBus;
  createPgBus?: PgBus;
  hold?: ReturnType<typeof gatedStore>['hold'];
  close(): Promise<void>;
}

/** One "application instance": its own Redis client, pool, tier and buses. */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const redis = await connect(options.redisUrl ?? REDIS_URL);
  const pool = createPool({ max: 2 });
  const base = createPgTokenStore({ db: pool, schema: options.schema });
  const gated = options.gated ? gatedStore(base) : undefined;
  const tier =
    options.tier === false
      ? undefined
      : createRedisTier({
          redis,
          prefix: options.prefix,
          timeoutMs: options.tierTimeoutMs ?? 50,
          breaker: options.breaker,
          signingKey: options.signingKey,
        });
  const buses = options.buses ?? ['redis'];
  const rBus = buses.includes('redis')
    ? createRedisBus({
        redis,
        stream: `${options.prefix}invalidations`,
        connectionName: options.connectionName ?? 'authcache-test-bus',
        logger: quiet,
        retryDelayMs: 10,
      })
    : undefined;
  const pBus = buses.includes('pg')
    ? createPgBus({
        pool,
        schema: options.schema,
        logger: quiet,
        applicationName: options.pgApplicationName ?? 'authcache-test-bus',
        retryDelayMs: 50,
      })
    : undefined;
  const auth = createAuthCache({
    store: gated?.store ?? base,
    tier,
    bus: [rBus, pBus].filter((bus) => bus !== undefined),
    ttl: options.ttl ?? 60_000,
    touchFlushDelay: options.touchFlushDelay ?? 50,
    clock: options.clock,
    tierSkewMs: options.tierSkewMs ?? 0,
    storeTimeoutMs: options.storeTimeoutMs,
    logger: quiet,
  });
  await auth.ready();
  return {
    auth,
    redis,
    pool,
    tier,
    createRedisBus: rBus,
    createPgBus: pBus,
    hold: gated?.hold,
    async close() {
      await auth.close();
      redis.disconnect();
      await pool.end();
    },
  };
}

/** Resolves on the first invalidation event of `tokenHash` on `auth`, with its time. */
export function nextInvalidation(auth: AuthCache, tokenHash: string): Promise<number> {
  return new Promise((resolve) => {
    const off = auth.onInvalidate((event) => {
      if (event.type === 'invalidate' && event.tokenHash === tokenHash) {
        off();
        resolve(performance.now());
      }
    });
  });
}

export type { Identity };
