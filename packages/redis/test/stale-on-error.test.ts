import { createAuthCache } from '@authcache/core';
import { createPgTokenStore, type PgTokenStore } from '@authcache/pg';
import { type CuttableProxy, startProxy } from '@authcache/testkit';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisTier } from '../src/index.js';
import { quiet } from './support/instances.js';
import { createPool, freshDatabase, waitFor } from './support/pg.js';
import { connect, dropPrefix, REDIS_URL, uniquePrefix } from './support/redis.js';

// staleIfError with the Redis tier: the tier is asked before any stale answer (an L1 expiry
// during a store outage is answered from Redis), a tier tombstone beats stale, and when both
// Redis and Postgres are unreachable an ended L1 identity is served for at most staleIfError.
// Postgres and Redis are real; instance A reaches both through testkit's TCP proxies, which
// this file cuts. The resolver's clock is injected.

const prefix = uniquePrefix('stale');
let schema: string;
let store: PgTokenStore;
let drop: () => Promise<void>;
let pgProxy: CuttableProxy;
let redisProxy: CuttableProxy;
let redisA: Redis;
let redisB: Redis;
let poolA: pg.Pool;

beforeAll(async () => {
  ({ schema, store, drop } = await freshDatabase('stale'));
  pgProxy = await startProxy();
  redisProxy = await startProxy(REDIS_URL);
  redisA = await connect(redisProxy.url);
  redisB = await connect();
  poolA = createPool({ connectionString: pgProxy.url, max: 2, connectionTimeoutMillis: 500 });
});

afterAll(async () => {
  redisA?.disconnect();
  await dropPrefix(redisB, prefix);
  redisB?.disconnect();
  await poolA?.end();
  await pgProxy?.close();
  await redisProxy?.close();
  await drop?.();
});

function fakeClock(start = Date.now()) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

describe('staleIfError with the Redis tier', () => {
  it('asks Redis first, lets a tier tombstone win, and serves stale only while both are down', async () => {
    const clock = fakeClock();
    const tierA = createRedisTier({
      redis: redisA,
      prefix,
      timeoutMs: 100,
      breaker: { failureThreshold: 1, cooldownMs: 60_000 },
    });
    const a = createAuthCache({
      store: createPgTokenStore({ db: poolA, schema }),
      tier: tierA,
      clock,
      ttl: 2_000,
      ttlJitter: 0,
      staleIfError: 5_000,
      storeTimeoutMs: 1_000,
      tierSkewMs: 0,
      logger: quiet,
    });
    // B shares Postgres and Redis directly and revokes through them (no bus: A hears nothing).
    const b = createAuthCache({
      store,
      tier: createRedisTier({ redis: redisB, prefix }),
      tierSkewMs: 0,
      logger: quiet,
    });
    const kept = await store.createPat({ userId: 'u1', name: 'stale kept' });
    const revoked = await store.createPat({ userId: 'u1', name: 'stale revoked' });
    try {
      for (const { token } of [kept, revoked]) {
        expect((await a.resolve('pat', token)).ok).toBe(true);
        await waitFor(
          async () => (await redisB.exists(`${prefix}{pat:${store.hashToken(token)}}`)) === 1,
        );
      }
      expect(a.stats().l2BreakerState).toBe(0);

      // Postgres down, L1 ended: Redis answers, nothing is stale.
      pgProxy.cut();
      clock.advance(2_500);
      expect((await a.resolve('pat', kept.token)).ok).toBe(true);
      expect(a.stats()).toMatchObject({ l2Hits: 1, staleHits: 0 });
      // A revoke made elsewhere left a tombstone in Redis: it beats A's ended entry.
      expect(await b.revoke('pat', revoked.id)).toBe(true);
      expect(await a.resolve('pat', revoked.token)).toEqual({ ok: false, reason: 'revoked' });

      // Redis down too, L1 ended again: the ended identity, for at most staleIfError.
      redisProxy.cut();
      // The L2 hit's L1 entry ends exactly now (ttl 2 s after the hit).
      clock.advance(2_000);
      expect((await a.resolve('pat', kept.token)).ok).toBe(true);
      expect(await a.resolve('pat', revoked.token)).toEqual({ ok: false, reason: 'revoked' });
      const during = a.stats();
      expect(during.staleHits).toBe(1);
      expect(during.byKind.pat?.staleHits).toBe(1);
      expect(during.l2Errors).toBeGreaterThanOrEqual(1);
      expect(during.storeErrors).toBeGreaterThanOrEqual(1);
      // The breaker opened on the first failure and says so.
      expect(during.l2BreakerState).toBe(2);
      expect(tierA.stats().state).toBe('open');

      clock.advance(4_999);
      expect((await a.resolve('pat', kept.token)).ok).toBe(true);
      clock.advance(1);
      const after = await a.resolve('pat', kept.token);
      expect(after).toEqual({ ok: false, reason: 'unavailable' });
      expect(a.stats().staleHits).toBe(2);
    } finally {
      pgProxy.restore();
      redisProxy.restore();
      await a.close();
      await b.close();
    }
  });
});
