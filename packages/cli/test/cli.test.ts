import { randomUUID } from 'node:crypto';
import { run } from '@authcache/cli';
import { type AuthCache, createAuthCache, type InvalidationEvent } from '@authcache/core';
import { createPgBus, createPgTokenStore, migrations, type PgTokenStore } from '@authcache/pg';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import { createPool, DATABASE_URL, dropSchema, freshSchemaName } from '@authcache/testkit';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, inProcess } from './helpers.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const schema = freshSchemaName('cli');
const redisPrefix = `authcache-test:cli:${randomUUID()}:`;
const redisStream = `${redisPrefix}invalidations`;
const quiet = { warn() {} };
/** Generous bound for an invalidation to cross a bus; never a performance assertion. */
const EVENT_BOUND_MS = 15_000;

const inSchema = ['--schema', schema];
const redisArgs = ['--redis-prefix', redisPrefix, '--redis-stream', redisStream];

let pool: pg.Pool;
let store: PgTokenStore;
let redis: Redis;
const closing: Array<() => Promise<unknown> | unknown> = [];

beforeAll(async () => {
  pool = createPool();
  store = createPgTokenStore({ db: pool, schema });
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => {});
  await redis.connect();
});

afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

afterAll(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  await pool.end();
  await dropSchema(schema);
});

async function createPat(extra: string[] = []) {
  const out = await cli(['token', 'create', ...inSchema, '--json', ...extra]);
  expect(out.stderr).not.toMatch(/mul_/);
  expect(out.code).toBe(0);
  const created = JSON.parse(out.stdout) as { id: string; token: string; tokenPrefix: string };
  expect(out.stderr).not.toContain(created.token);
  return created;
}

/** Resolves when `auth` hears an invalidation of `tokenHash`, or fails after a generous bound. */
function heard(auth: AuthCache, tokenHash: string): Promise<InvalidationEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no invalidation of ${tokenHash} within ${EVENT_BOUND_MS} ms`));
    }, EVENT_BOUND_MS);
    const off = auth.onInvalidate((event) => {
      if (event.type === 'invalidate' && event.tokenHash === tokenHash) {
        clearTimeout(timer);
        off();
        resolve(event);
      }
    });
  });
}

describe('authcache migrate', { timeout: 90_000 }, () => {
  it('creates the tables, then reports the schema up to date', async () => {
    const first = await cli(['migrate', ...inSchema]);
    expect(first.code).toBe(0);
    for (const migration of migrations) expect(first.stdout).toContain(migration.id);

    const second = await cli(['migrate', ...inSchema]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('up to date');
    const { rows } = await pool.query(`SELECT id FROM "${schema}".authcache_migrations`);
    expect(rows.map((row) => row.id).sort()).toEqual(migrations.map((m) => m.id).sort());
  });
});

describe('authcache token', { timeout: 90_000 }, () => {
  it('create prints a token that resolves, with its scopes and expiry, once', async () => {
    const before = Date.now();
    const out = await cli([
      'token',
      'create',
      ...inSchema,
      '--user',
      'alice',
      '--name',
      'laptop',
      '--scopes',
      'read, write',
      '--expires-in',
      '30d',
    ]);
    expect(out.code).toBe(0);
    const token = /^token:\s+(\S+)$/m.exec(out.stdout)?.[1];
    const id = /^id:\s+(\S+)$/m.exec(out.stdout)?.[1];
    expect(token).toMatch(/^mul_/);
    expect(out.stdout.split(token!).length).toBe(2);
    expect(out.stderr).not.toContain(token!);
    expect(out.stderr).toContain('shown only once');

    const auth = createAuthCache({ store, logger: quiet });
    closing.push(() => auth.close());
    const result = await auth.resolve('pat', token!);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.identity.tokenId).toBe(id);
    expect(result.identity.subject).toBe('alice');
    expect(result.identity.scopes).toEqual(['read', 'write']);
    const thirtyDays = 30 * 86_400_000;
    expect(result.identity.expiresAt).toBeGreaterThanOrEqual(before + thirtyDays);
    expect(result.identity.expiresAt).toBeLessThanOrEqual(Date.now() + thirtyDays);
  });

  it('create-daemon prints a daemon token that resolves', async () => {
    const out = await cli([
      'token',
      'create-daemon',
      ...inSchema,
      '--workspace',
      'ws-1',
      '--daemon',
      'd-1',
      '--expires-in',
      '3600s',
      '--json',
    ]);
    expect(out.code).toBe(0);
    const created = JSON.parse(out.stdout) as { id: string; token: string; expiresAt: string };
    expect(created.token).toMatch(/^mdt_/);
    expect(out.stderr).not.toContain(created.token);
    const auth = createAuthCache({ store, logger: quiet });
    closing.push(() => auth.close());
    const result = await auth.resolve('daemon', created.token);
    expect(result.ok && result.identity).toMatchObject({
      tokenId: created.id,
      workspaceId: 'ws-1',
      daemonId: 'd-1',
    });
  });

  it('list shows ids and names but never a token or a hash', async () => {
    const user = `bob-${randomUUID()}`;
    const created = await createPat(['--user', user, '--name', 'ci']);
    const hash = store.hashToken(created.token);

    const text = await cli(['token', 'list', ...inSchema, '--user', user]);
    const asJson = await cli(['token', 'list', ...inSchema, '--user', user, '--json']);
    for (const out of [text, asJson]) {
      expect(out.code).toBe(0);
      expect(out.stdout).toContain(created.id);
      expect(out.stdout).toContain('ci');
      expect(out.stdout).not.toContain(created.token);
      expect(out.stdout).not.toContain(hash);
      expect(out.stdout).not.toMatch(/hash/i);
      expect(out.stderr).toBe('');
    }
    const rows = JSON.parse(asJson.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: created.id, name: 'ci', revoked: false });
    expect(created.token.startsWith(String(rows[0]!.tokenPrefix))).toBe(true);
  });

  it('revoke reaches a running instance through createPgBus', async () => {
    const created = await createPat(['--user', 'carol', '--name', 'old']);
    const bus = createPgBus({ pool, schema, logger: quiet, pruneIntervalMs: 0 });
    const auth = createAuthCache({ store, bus, logger: quiet });
    closing.push(() => auth.close());
    await auth.ready();
    expect((await auth.resolve('pat', created.token)).ok).toBe(true);

    const event = heard(auth, auth.hashToken(created.token));
    const out = await cli(['token', 'revoke', created.id, ...inSchema]);
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.stdout).toBe(`revoked pat ${created.id}\n`);
    await expect(event).resolves.toMatchObject({ kind: 'pat', reason: 'revoked' });
    expect(await auth.resolve('pat', created.token)).toMatchObject({ ok: false });

    const again = await cli(['token', 'revoke', created.id, ...inSchema, '--kind', 'pat']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already revoked');
  });

  it('revoke with REDIS_URL reaches an instance on createRedisBus and tombstones the Redis tier', async () => {
    const created = await createPat(['--user', 'dave', '--name', 'cache']);
    const tier = createRedisTier({ redis, prefix: redisPrefix });
    const bus = createRedisBus({ redis, stream: redisStream, logger: quiet });
    const auth = createAuthCache({ store, tier, bus, logger: quiet });
    closing.push(() => auth.close());
    await auth.ready();
    expect((await auth.resolve('pat', created.token)).ok).toBe(true);

    const event = heard(auth, auth.hashToken(created.token));
    const out = await cli(['token', 'revoke', created.id, ...inSchema, ...redisArgs], {
      REDIS_URL,
    });
    expect(out).toMatchObject({ code: 0, stderr: '' });
    await expect(event).resolves.toMatchObject({ kind: 'pat', reason: 'revoked' });
    expect(await auth.resolve('pat', created.token)).toMatchObject({ ok: false });

    // A fresh instance with no bus learns it from the tier's tombstone, not just "unknown".
    const fresh = createAuthCache({ store, tier, logger: quiet });
    closing.push(() => fresh.close());
    expect(await fresh.resolve('pat', created.token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('revoke of a daemon token finds its kind by itself', async () => {
    const out = await cli([
      'token',
      'create-daemon',
      ...inSchema,
      '--workspace',
      'ws-2',
      '--daemon',
      'd-2',
      '--json',
    ]);
    const created = JSON.parse(out.stdout) as { id: string; token: string };
    const revoked = await cli(['token', 'revoke', created.id, ...inSchema]);
    expect(revoked).toMatchObject({ code: 0, stdout: `revoked daemon ${created.id}\n` });
    const listed = await cli(['token', 'list', ...inSchema, '--workspace', 'ws-2', '--all']);
    expect(listed.stdout).toMatch(new RegExp(`${created.id}.*yes`));
  });
});

describe('authcache invalidate', { timeout: 90_000 }, () => {
  it('announces on createPgBus and on the Redis bus', async () => {
    const hash = 'a'.repeat(64);
    const pgAuth = createAuthCache({
      store,
      bus: createPgBus({ pool, schema, logger: quiet, pruneIntervalMs: 0 }),
      logger: quiet,
    });
    const redisAuth = createAuthCache({
      store,
      bus: createRedisBus({ redis, stream: redisStream, logger: quiet }),
      logger: quiet,
    });
    closing.push(
      () => pgAuth.close(),
      () => redisAuth.close(),
    );
    await Promise.all([pgAuth.ready(), redisAuth.ready()]);
    const events = Promise.all([heard(pgAuth, hash), heard(redisAuth, hash)]);
    const out = await cli(
      ['invalidate', '--kind', 'pat', '--hash', hash, ...inSchema, ...redisArgs],
      {
        REDIS_URL,
      },
    );
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const [fromPg, fromRedis] = await events;
    expect(fromPg).toMatchObject({ kind: 'pat', reason: 'invalidated' });
    expect(fromRedis).toMatchObject({ kind: 'pat', reason: 'invalidated' });
  });
});

describe('authcache status', { timeout: 90_000 }, () => {
  it('reports migrations, token counts, the log and Redis', async () => {
    const out = await cli(['status', ...inSchema, '--json', ...redisArgs], { REDIS_URL });
    expect(out).toMatchObject({ code: 0, stderr: '' });
    const status = JSON.parse(out.stdout);
    expect(status.migrations.pending).toEqual([]);
    expect(status.migrations.applied).toHaveLength(migrations.length);
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${schema}".personal_access_token WHERE revoked`,
    );
    expect(status.tokens.pat.revoked).toBe(Number(rows[0]!.n));
    expect(status.tokens.pat.live).toBeGreaterThan(0);
    expect(status.invalidationLog.rows).toBeGreaterThan(0);
    expect(status.redis).toMatchObject({ configured: true, reachable: true });
  });

  it('exits 1 when migrations are pending or Redis is unreachable', async () => {
    const empty = freshSchemaName('cli_empty');
    try {
      const pending = await cli(['status', '--schema', empty]);
      expect(pending.code).toBe(1);
      expect(pending.stdout).toContain(`${migrations.length} pending`);
      expect(pending.stderr).toContain('authcache migrate');
    } finally {
      await dropSchema(empty);
    }
    const noRedis = await cli(['status', ...inSchema], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(noRedis.code).toBe(1);
    expect(noRedis.stdout).toContain('UNREACHABLE');
  });
});

describe('errors', { timeout: 90_000 }, () => {
  const usageCases = [
    [],
    ['frobnicate'],
    ['token'],
    ['token', 'create', '--name', 'x'],
    ['token', 'create', '--user', 'u', '--name', 'x', '--expires-in', '30x'],
    ['token', 'list'],
    ['token', 'list', '--user', 'u', '--workspace', 'w'],
    ['token', 'revoke'],
    ['token', 'revoke', randomUUID(), '--kind', 'bogus'],
    ['migrate', '--bogus'],
    ['migrate', 'extra'],
    ['invalidate', '--kind', 'pat'],
  ];

  it('usage errors exit 2 with a usage text (in process, every case)', async () => {
    for (const args of usageCases) {
      const { code, stdout, stderr } = await inProcess(args);
      expect({ args, code }).toEqual({ args, code: 2 });
      // A mistyped option or argument points to the help instead of repeating it.
      expect(stderr).toMatch(/Usage: authcache|see 'authcache help /);
      expect(stdout).toBe('');
    }
  });

  it('usage errors exit 2 from the binary', async () => {
    for (const args of usageCases.slice(0, 4)) {
      const out = await cli(args);
      expect({ args, code: out.code }).toEqual({ args, code: 2 });
      expect(out.stderr).toContain('Usage: authcache');
      expect(out.stdout).toBe('');
    }
  });

  it('--help prints usage on stdout and exits 0', async () => {
    for (const args of [['--help'], ['token', 'create', '--help'], ['status', '-h']]) {
      const out = await cli(args);
      expect(out).toMatchObject({ code: 0, stderr: '' });
      expect(out.stdout).toContain('Usage: authcache');
    }
  });

  it('a missing DATABASE_URL exits 1 and names the variable', async () => {
    const out = await cli(['token', 'create', '--user', 'u', '--name', 'n'], {
      DATABASE_URL: undefined,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('DATABASE_URL');
    expect(out.stdout).toBe('');
  });

  it('revoke and invalidate on an unmigrated schema exit 1 instead of waiting', async () => {
    const empty = freshSchemaName('cli_unmigrated');
    for (const args of [
      ['invalidate', '--kind', 'pat', '--hash', 'b'.repeat(64)],
      ['token', 'revoke', randomUUID()],
    ]) {
      let stderr = '';
      const code = await run([...args, '--schema', empty], {
        stdout: () => {},
        stderr: (text) => {
          stderr += text;
        },
        env: { DATABASE_URL },
      });
      expect(code).toBe(1);
      expect(stderr).toContain('authcache migrate');
    }
  });

  it('revoke with an unreachable Redis fails before changing the store', async () => {
    const created = await store.createPat({ userId: 'erin', name: 'kept' });
    let stderr = '';
    const code = await run(['token', 'revoke', created.id, '--schema', schema], {
      stdout: () => {},
      stderr: (text) => {
        stderr += text;
      },
      env: { DATABASE_URL, REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect(code).toBe(1);
    expect(stderr).toContain('Redis is unreachable');
    const [listed] = await store.listPats('erin', { includeRevoked: true });
    expect(listed).toMatchObject({ id: created.id, revoked: false });
  });

  it('an unreachable database exits 1 without echoing the password', async () => {
    const out = await cli(['migrate'], {
      DATABASE_URL: 'postgres://postgres:hunter2-secret@127.0.0.1:1/nowhere',
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^authcache migrate: /);
    expect(out.stderr).not.toContain('hunter2-secret');
  });
});
