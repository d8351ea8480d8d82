import type { PgTokenStore } from '@authcache/pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, startInstance } from './support/instances.js';
import { freshDatabase, percentile, waitFor } from './support/pg.js';
import { startPrivateRedis, uniquePrefix } from './support/redis.js';

// A private redis-server (own port, no persistence) that this file kills and restarts while
// two instances keep serving requests. The shared Redis is never touched.

const TIMEOUT_MS = 50;
const prefix = uniquePrefix('outage');
let schema: string;
let store: PgTokenStore;
let dropDatabase: () => Promise<void>;
let server: Awaited<ReturnType<typeof startPrivateRedis>>;
const instances: Instance[] = [];

beforeAll(async () => {
  const db = await freshDatabase('outage');
  ({ schema, store } = db);
  dropDatabase = db.drop;
  server = await startPrivateRedis();
});

afterAll(async () => {
  for (const instance of instances) await instance.close();
  await server?.kill().catch(() => {});
  await dropDatabase?.();
});

async function newTokens(count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push((await store.createPat({ userId: 'u1', name: `outage ${i}` })).token);
  }
  return tokens;
}

describe('a Redis outage', () => {
  it('costs no request and at most the timeout; L2 is used again after Redis is back', async () => {
    for (let i = 0; i < 2; i++) {
      instances.push(
        await startInstance({
          schema,
          prefix,
          redisUrl: server.url,
          buses: [],
          tierTimeoutMs: TIMEOUT_MS,
          breaker: { failureThreshold: 3, cooldownMs: 300 },
        }),
      );
    }
    const [a, b] = instances as [Instance, Instance];
    const cached = await newTokens(20);
    const fresh = await newTokens(300);
    for (const token of cached) expect((await a.auth.resolve('pat', token)).ok).toBe(true);

    // Load: A serves cached tokens (L1) and never-seen tokens (L2 miss → Postgres).
    const latencies = { before: [] as number[], during: [] as number[] };
    const failures: string[] = [];
    let phase: 'before' | 'during' = 'before';
    let next = 0;
    const one = async (token: string, storeBound: boolean) => {
      const started = performance.now();
      const result = await a.auth.resolve('pat', token);
      if (storeBound) latencies[phase].push(performance.now() - started);
      if (!result.ok) failures.push(result.reason);
    };
    const round = async () => {
      await Promise.all([
        one(cached[next % cached.length]!, false),
        one(fresh[next++]!, true),
        one(fresh[next++]!, true),
      ]);
    };
    for (let i = 0; i < 50; i++) await round();
    const l2ErrorsBefore = a.auth.stats().l2Errors;
    expect(l2ErrorsBefore).toBe(0);

    await server.kill();
    phase = 'during';
    for (let i = 0; i < 50; i++) await round();
    // Cached tokens kept working from L1 all along: they never reached L2 or the store.
    for (const token of cached) expect((await a.auth.resolve('pat', token)).ok).toBe(true);

    expect(failures).toEqual([]);
    const tier = a.tier!.stats();
    expect(a.auth.stats().l2Errors).toBeGreaterThan(0);
    expect(tier.breakerOpens).toBeGreaterThanOrEqual(1);
    const added = percentile(latencies.during, 99) - percentile(latencies.before, 99);
    console.log(
      `Redis killed: store-bound resolve p99 ${percentile(latencies.before, 99).toFixed(2)} ms before, ` +
        `${percentile(latencies.during, 99).toFixed(2)} ms during (added ${added.toFixed(2)} ms, timeout ${TIMEOUT_MS} ms); ` +
        `breaker opened ${tier.breakerOpens}×, ${tier.shortCircuited} calls skipped, 0 failed requests`,
    );
    // Generous: the bound is the tier's timeout (plus scheduling noise on a busy machine).
    expect(added).toBeLessThanOrEqual(TIMEOUT_MS + 25);

    // Back on the same port: after the cool-down a probe closes the circuit, and B (empty L1)
    // is served from Redis what A put there.
    await server.restart();
    await waitFor(() => a.redis.status === 'ready' && b.redis.status === 'ready', 10_000);
    const [afterToken] = await newTokens(1);
    const fillsBefore = a.tier!.stats().fills;
    await waitFor(async () => {
      await a.auth.resolve('pat', afterToken!);
      a.auth.clear();
      return a.tier!.stats().state === 'closed' && a.tier!.stats().fills > fillsBefore;
    }, 10_000);
    const hitsBefore = b.tier!.stats().hits;
    await waitFor(async () => {
      b.auth.clear();
      return (await b.auth.resolve('pat', afterToken!)).ok && b.tier!.stats().hits > hitsBefore;
    }, 10_000);
    expect(b.auth.stats().l2Hits).toBeGreaterThan(0);
    expect(b.tier!.stats().state).toBe('closed');
  });

  it('a frozen Redis slows only a few requests by the timeout; the breaker skips it after', async () => {
    const a = await startInstance({
      schema,
      prefix,
      redisUrl: server.url,
      buses: [],
      tierTimeoutMs: TIMEOUT_MS,
      breaker: { failureThreshold: 3, cooldownMs: 60_000 },
    });
    instances.push(a);
    const tokens = await newTokens(100);
    server.freeze();
    try {
      const latencies: number[] = [];
      for (const token of tokens) {
        const started = performance.now();
        expect((await a.auth.resolve('pat', token)).ok).toBe(true);
        latencies.push(performance.now() - started);
      }
      const slowed = latencies.filter((ms) => ms >= TIMEOUT_MS).length;
      const stats = a.tier!.stats();
      console.log(
        `Redis frozen: ${slowed} of 100 store-bound resolves took ≥ ${TIMEOUT_MS} ms ` +
          `(max ${Math.max(...latencies).toFixed(1)} ms, p50 ${percentile(latencies, 50).toFixed(2)} ms); ` +
          `${stats.timeouts} timeouts, then ${stats.shortCircuited} calls skipped`,
      );
      // Three consecutive timeouts (a request's get, and its background fill and touch claim)
      // open the circuit; calls already in flight may time out too; later ones skip Redis.
      expect(stats.timeouts).toBeGreaterThanOrEqual(3);
      expect(stats.timeouts).toBeLessThanOrEqual(6);
      expect(slowed).toBeLessThanOrEqual(3);
      expect(stats.state).toBe('open');
      // Each timed-out request waited about the timeout, not more (generous bound).
      expect(Math.max(...latencies)).toBeLessThan(TIMEOUT_MS * 4);
    } finally {
      server.thaw();
    }
  });
});
