import { randomUUID } from 'node:crypto';
import { type AuthCache, createAuthCache, type InvalidationScopeName } from '@authcache/core';
import { createPgBus, createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import { createPool, dropSchema, freshSchemaName } from '@authcache/testkit';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

// `authcache invalidate <scope>` and `authcache status [--verify]`, run as processes against
// real Postgres and Redis, with two app instances listening: one on createPgBus only, one on
// createRedisBus + the Redis tier.

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = freshSchemaName('cli_scopes');
const prefix = `authcache-test:cli-scopes:${randomUUID()}:`;
const stream = `${prefix}invalidations`;
const args = ['--schema', schema, '--redis-prefix', prefix, '--redis-stream', stream];
const env = { REDIS_URL };
const quiet = { warn() {} };
const BOUND_MS = 15_000;

let pool: pg.Pool;
let store: PgTokenStore;
let redis: Redis;
let pgApp: AuthCache;
let redisApp: AuthCache;

beforeAll(async () => {
  pool = createPool();
  await migrate(pool, { schema });
  store = createPgTokenStore({ db: pool, schema });
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  await redis.connect();
  pgApp = createAuthCache({
    store,
    bus: createPgBus({ pool, schema, logger: quiet, pruneIntervalMs: 0 }),
    logger: quiet,
  });
  redisApp = createAuthCache({
    store,
    tier: createRedisTier({ redis, prefix }),
    bus: createRedisBus({ redis, stream, logger: quiet }),
    tierSkewMs: 0,
    logger: quiet,
  });
  await Promise.all([pgApp.ready(), redisApp.ready()]);
}, 60_000);

afterAll(async () => {
  await pgApp?.close();
  await redisApp?.close();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.del(stream);
  redis.disconnect();
  await pool.end();
  await dropSchema(schema);
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('not heard within the bound');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const scopeCount = (auth: AuthCache, scope: InvalidationScopeName) =>
  auth.stats().invalidationsByScope[scope];

describe('authcache invalidate <scope>', { timeout: 120_000 }, () => {
  it('subject: both instances drop the subject, whose next resolve asks the store', async () => {
    const tokens = [
      await store.createPat({ userId: 'cli-victim', name: 'a' }),
      await store.createPat({ userId: 'cli-victim', name: 'b' }),
    ];
    const other = await store.createPat({ userId: 'cli-other', name: 'c' });
    for (const app of [pgApp, redisApp]) {
      for (const { token } of [...tokens, other])
        expect((await app.resolve('pat', token)).ok).toBe(true);
    }
    const before = [pgApp.stats().storeQueries, redisApp.stats().storeQueries];
    const out = await cli(['invalidate', 'subject', '--subject', 'cli-victim', ...args], env);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).toMatch(/^invalidated subject subject=cli-victim \(epoch /);
    await until(() => scopeCount(pgApp, 'subject') === 1 && scopeCount(redisApp, 'subject') === 1);
    for (const [i, app] of [pgApp, redisApp].entries()) {
      for (const { token } of [...tokens, other])
        expect((await app.resolve('pat', token)).ok).toBe(true);
      expect(app.stats().storeQueries - before[i]!).toBe(2);
    }
  });

  it('token, kind, access_key and all (with --yes) reach both buses', async () => {
    const created = await store.createPat({ userId: 'cli-t', name: 't' });
    const runs: [InvalidationScopeName, string[]][] = [
      ['token', ['--kind', 'pat', '--id', created.id]],
      ['kind', ['--kind', 'daemon']],
      ['access_key', ['--id', 'AKIAIOSFODNN7EXAMPLE']],
      ['all', ['--yes']],
    ];
    for (const [scope, selectors] of runs) {
      const out = await cli(['invalidate', scope, ...selectors, ...args], env);
      expect(out, scope).toMatchObject({ code: 0, stderr: '' });
      await until(() => scopeCount(pgApp, scope) === 1 && scopeCount(redisApp, scope) === 1);
    }
  });

  it('refuses what the API refuses, with exit 2, naming the flag, before connecting', async () => {
    const cases: [string[], RegExp][] = [
      [['all'], /--yes/],
      [['subject'], /--subject is required for scope subject/],
      [['token', '--kind', 'pat'], /--id is required for scope token/],
      [['token', '--id', 'x'], /--kind is required for scope token/],
      [['kind'], /--kind is required/],
      [['access_key'], /--id is required/],
      [['everything'], /the scope must be one of token, subject, kind, access_key, all/],
      [['subject', '--subject', 'x', '--hash', 'a'.repeat(64)], /--hash goes without a scope/],
    ];
    for (const [extra, message] of cases) {
      // An unreachable database: exit 2 proves nothing was attempted.
      const out = await cli(['invalidate', ...extra, '--schema', schema], {
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      });
      expect(out.code, extra.join(' ')).toBe(2);
      expect(out.stderr).toMatch(message);
    }
  });
});

describe('authcache status', { timeout: 120_000 }, () => {
  it('reports the bus stream and scope epochs without reading values', async () => {
    const out = await cli(['status', '--json', ...args], env);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(out.stdout);
    expect(report.redis).toMatchObject({ configured: true, reachable: true });
    expect(report.redis.streamLength).toBeGreaterThanOrEqual(5);
    expect(report.redis.scopeEpochs).toBeGreaterThanOrEqual(1);
    expect(report.verify).toBeUndefined();
    expect(report.invalidationLog.rows).toBeGreaterThanOrEqual(5);
  });

  it('--verify passes a clean tier and exits 1 on planted bad entries', async () => {
    // A clean tier: the app filled it with live tokens.
    const live = await store.createPat({ userId: 'cli-live', name: 'live' });
    expect((await redisApp.resolve('pat', live.token)).ok).toBe(true);
    const clean = await cli(['status', '--verify', '--json', ...args], env);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanReport = JSON.parse(clean.stdout);
    expect(cleanReport.verify.identities).toBeGreaterThanOrEqual(1);
    expect(cleanReport.verify.bad).toEqual([]);

    // Planted: a value for a token revoked in the store, and one that outlives its token.
    const revoked = await store.createPat({ userId: 'cli-bad', name: 'revoked' });
    const expiring = await store.createPat({
      userId: 'cli-bad',
      name: 'expiring',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    await pool.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
      revoked.id,
    ]);
    const plant = async (token: string, id: string, ttlMs: number, expiresAt: number | null) => {
      const identity = { kind: 'pat', tokenId: id, subject: 'cli-bad', scopes: [], expiresAt };
      const value = { t: 'identity', identity, expiresAt, generation: 0, filledAt: Date.now() };
      const key = `${prefix}{pat:${store.hashToken(token)}}`;
      await redis.set(key, JSON.stringify(value), 'PX', ttlMs);
    };
    await plant(revoked.token, revoked.id, 600_000, null);
    await plant(expiring.token, expiring.id, 7_200_000, Date.now() + 3_600_000);

    const out = await cli(['status', '--verify', ...args], env);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`BAD pat ${revoked.id}: revoked`);
    expect(out.stdout).toContain(`BAD pat ${expiring.id}: outlives_expiry`);
    expect(out.stdout).not.toContain(`BAD pat ${live.id}`);
    expect(out.stderr).toMatch(/2 bad Redis tier entries/);
    // Never a token or a hash in the report.
    for (const token of [revoked.token, expiring.token]) {
      expect(out.stdout + out.stderr).not.toContain(token);
      expect(out.stdout + out.stderr).not.toContain(store.hashToken(token));
    }
  });
});
