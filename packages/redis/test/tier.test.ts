import type { Identity } from '@authcache/core';
import { createRedisTier } from '@authcache/redis';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  dropPrefix,
  keysUnder,
  redisTarget,
  startPrivateRedis,
  startProxy,
  uniquePrefix,
} from './support/redis.js';

const prefix = uniquePrefix('tier');
let redis: Redis;

const identity = (tokenId: string, expiresAt: number | null = null): Identity => ({
  kind: 'pat',
  tokenId,
  subject: 'user-1',
  scopes: ['read'],
  expiresAt,
});

beforeAll(async () => {
  redis = await connect();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('createRedisTier against a real Redis', () => {
  it('stores a fill and returns it with generation 0', async () => {
    const tier = createRedisTier({ redis, prefix });
    expect(await tier.get('pat:aaa')).toEqual({ value: undefined, generation: 0 });
    await tier.fill('pat:aaa', { type: 'identity', identity: identity('1') }, 10_000, 0);
    const hit = await tier.get('pat:aaa');
    expect(hit).toMatchObject({
      value: { type: 'identity', identity: identity('1') },
      generation: 0,
    });
    // The remaining lifetime comes back with the value, so L1 never outlives it.
    expect(hit.ttlMs).toBeGreaterThan(9_000);
    expect(hit.ttlMs).toBeLessThanOrEqual(10_000);
    const pttl = await redis.pttl(`${prefix}{pat:aaa}`);
    expect(pttl).toBeGreaterThan(9_000);
    expect(pttl).toBeLessThanOrEqual(10_000);
    expect(tier.stats()).toMatchObject({ hits: 1, misses: 1, fills: 1, state: 'closed' });
  });

  it('refuses a fill whose generation moved (a revoke raced the load)', async () => {
    const tier = createRedisTier({ redis, prefix });
    const { generation } = await tier.get('pat:race');
    // The load read the store before the revoke; the revoke lands; then the fill arrives.
    await tier.invalidate('pat:race', 5_000);
    await tier.fill('pat:race', { type: 'identity', identity: identity('2') }, 10_000, generation);
    const after = await tier.get('pat:race');
    expect(after.value).toEqual({ type: 'revoked' });
    expect(after.generation).toBe(1);
    // Even a fill with the new generation cannot overwrite the tombstone (SET NX).
    await tier.fill('pat:race', { type: 'identity', identity: identity('2') }, 10_000, 1);
    expect((await tier.get('pat:race')).value).toEqual({ type: 'revoked' });
    expect(tier.stats().fillsRefused).toBe(2);
  });

  it('drops the value on a plain invalidation but keeps a tombstone', async () => {
    const tier = createRedisTier({ redis, prefix });
    await tier.fill('pat:inv', { type: 'identity', identity: identity('3') }, 10_000, 0);
    await tier.invalidate('pat:inv', 0);
    expect(await tier.get('pat:inv')).toEqual({ value: undefined, generation: 1 });
    await tier.invalidate('pat:inv', 5_000);
    await tier.invalidate('pat:inv', 0);
    expect(await tier.get('pat:inv')).toMatchObject({ value: { type: 'revoked' }, generation: 3 });
    // The generation outlives the tombstone.
    expect(await redis.pttl(`${prefix}{pat:inv}:g`)).toBeGreaterThan(5_000);
  });

  it('lets exactly one caller claim a touch window', async () => {
    const tiers = [createRedisTier({ redis, prefix }), createRedisTier({ redis, prefix })];
    const claims = await Promise.all(
      Array.from({ length: 20 }, (_, i) => tiers[i % 2]!.claimTouch!('touch:pat:claim', 10_000)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  it('treats an unreadable value as a miss', async () => {
    const tier = createRedisTier({ redis, prefix });
    await redis.set(`${prefix}{pat:junk}`, 'not json', 'PX', 10_000);
    expect(await tier.get('pat:junk')).toEqual({ value: undefined, generation: 0 });
  });

  it('re-loads its scripts after SCRIPT FLUSH (private server: the shared one is left alone)', async () => {
    const server = await startPrivateRedis();
    const own = await connect(server.url);
    try {
      const tier = createRedisTier({ redis: own, prefix });
      await tier.fill('pat:noscript', { type: 'identity', identity: identity('4') }, 10_000, 0);
      await own.script('FLUSH');
      await tier.fill('pat:noscript2', { type: 'identity', identity: identity('5') }, 10_000, 0);
      expect((await tier.get('pat:noscript2')).value?.type).toBe('identity');
      expect(tier.stats().errors).toBe(0);
    } finally {
      own.disconnect();
      await server.kill();
    }
  });

  it('names the value and generation keys of a token with one hash tag', async () => {
    const tier = createRedisTier({ redis, prefix });
    await tier.invalidate('pat:slot', 1_000);
    const keys = (await keysUnder(redis, prefix)).filter((key) => key.includes('pat:slot'));
    expect(keys.sort()).toEqual([`${prefix}{pat:slot}`, `${prefix}{pat:slot}:g`]);
    // Same slot on a real cluster: see cluster.test.ts.
  });
});

describe('createRedisTier failure handling', () => {
  it('bounds a stalled call by timeoutMs, opens the breaker, probes, and recovers', async () => {
    const proxy = await startProxy(redisTarget());
    const client = await connect(proxy.url);
    const tier = createRedisTier({
      redis: client,
      prefix,
      timeoutMs: 30,
      breaker: { failureThreshold: 3, cooldownMs: 200 },
    });
    try {
      await tier.fill('pat:outage', { type: 'identity', identity: identity('5') }, 10_000, 0);
      expect((await tier.get('pat:outage')).value?.type).toBe('identity');

      proxy.stall();
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await expect(tier.get('pat:outage')).rejects.toThrow(/did not answer within 30 ms/);
        // Generous: the bound is the timer, not Redis.
        expect(performance.now() - started).toBeLessThan(500);
      }
      expect(tier.stats()).toMatchObject({ state: 'open', timeouts: 3, breakerOpens: 1 });
      // Open: calls skip Redis entirely.
      await expect(tier.get('pat:outage')).rejects.toThrow(/circuit breaker is open/);
      expect(tier.stats().shortCircuited).toBe(1);

      // Bring Redis back (drop the stalled connections so the client reconnects cleanly).
      proxy.cut();
      proxy.resume();
      await waitFor(async () => client.status === 'ready');
      await sleep(220);
      // Cool-down over: one probe goes through and closes the circuit.
      expect((await tier.get('pat:outage')).value?.type).toBe('identity');
      expect(tier.stats().state).toBe('closed');
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });

  it('lets only one half-open probe through; a failed probe re-opens the circuit', async () => {
    const proxy = await startProxy(redisTarget());
    const client = await connect(proxy.url);
    const tier = createRedisTier({
      redis: client,
      prefix,
      timeoutMs: 30,
      breaker: { failureThreshold: 1, cooldownMs: 100 },
    });
    try {
      proxy.stall();
      await expect(tier.get('pat:probe')).rejects.toThrow();
      expect(tier.stats().state).toBe('open');
      await sleep(120);
      const attempts = await Promise.allSettled([tier.get('pat:probe'), tier.get('pat:probe')]);
      const reasons = attempts.map((a) => (a.status === 'rejected' ? String(a.reason) : 'ok'));
      expect(reasons.filter((r) => /circuit breaker is open/.test(r))).toHaveLength(1);
      expect(reasons.filter((r) => /did not answer/.test(r))).toHaveLength(1);
      expect(tier.stats()).toMatchObject({ state: 'open', breakerOpens: 2 });
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });

  it('fails fast with a disconnected client (no offline queue)', async () => {
    const proxy = await startProxy(redisTarget());
    const client = await connect(proxy.url, { retryStrategy: () => 1_000 });
    const tier = createRedisTier({ redis: client, prefix, timeoutMs: 1_000 });
    try {
      proxy.cut();
      await waitFor(async () => client.status !== 'ready');
      const started = performance.now();
      await expect(tier.get('pat:down')).rejects.toThrow(/Redis call failed/);
      expect(performance.now() - started).toBeLessThan(500);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });
});

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await sleep(10);
  }
}
