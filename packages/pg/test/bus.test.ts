import net from 'node:net';
import {
  type AuthCache,
  createAuthCache,
  type InvalidationMessage,
  type TokenStore,
} from '@authcache/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPgAccessKeyStore,
  createPgBus,
  createPgTokenStore,
  migrate,
  type PgBus,
  type PgTokenStore,
} from '../src/index.js';
import { createPool, DATABASE_URL, dropSchema, freshSchemaName } from './helpers.js';

// A p99 bound measured on a shared 2-core machine: one re-measurement absorbs a noisy
// neighbour; a bus that is broken or slow fails every attempt.
const LATENCY_RETRY = { retry: 1 };

// createPgBus against the shared Postgres, in this file's own schema: several auth caches in one
// process, each with its own pool and its own LISTEN connection, like separate instances.

const quiet = { warn() {} };
let schema: string;
let admin: pg.Pool;
let store: PgTokenStore;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  schema = freshSchemaName('bus');
  admin = createPool({ max: 2 });
  await migrate(admin, { schema });
  store = createPgTokenStore({ db: admin, schema });
});

afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
  await admin?.end();
  if (schema) await dropSchema(schema);
});

interface Instance {
  auth: AuthCache;
  bus: PgBus;
  pool: pg.Pool;
  events: InvalidationMessage[];
}

/** Tokens and access keys (kind `sigv4`, keyed by access key id), as the sigv4 package routes them. */
function combinedStore(db: pg.Pool): TokenStore {
  const tokens = createPgTokenStore({ db, schema });
  const keys = createPgAccessKeyStore({ db, schema });
  const pick = (kind: string): TokenStore => (kind === 'sigv4' ? keys : tokens);
  return {
    hashToken: tokens.hashToken,
    findByHash: (kind, hash) => pick(kind).findByHash(kind, hash),
    touch: (kind, ids, usedAt, notUsedSince) => pick(kind).touch(kind, ids, usedAt, notUsedSince),
    revoke: (kind, id, options) => pick(kind).revoke(kind, id, options),
  };
}

async function instance(
  busOptions: Partial<Parameters<typeof createPgBus>[0]> = {},
): Promise<Instance> {
  const pool = createPool({ max: 2 });
  const bus = createPgBus({ pool, schema, logger: quiet, ...busOptions });
  const auth = createAuthCache({
    store: combinedStore(pool),
    bus,
    ttl: 60_000,
    logger: quiet,
  });
  const events: InvalidationMessage[] = [];
  auth.onInvalidate((event) => {
    if (event.type === 'invalidate') events.push(event);
  });
  await auth.ready();
  cleanup.push(async () => {
    await auth.close();
    await pool.end();
  });
  return { auth, bus, pool, events };
}

async function newPat() {
  return store.createPat({ userId: 'u1', name: 'bus test' });
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * A TCP proxy in front of Postgres whose open connections can go silently dead, like a NAT
 * entry timing out: `stall()` stops forwarding on them without closing anything. Connections
 * opened afterwards work.
 */
async function stallableProxy() {
  const target = new URL(DATABASE_URL);
  const sockets = new Set<net.Socket>();
  const stalled = new WeakSet<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => {
        if (!stalled.has(from)) to.write(chunk);
      });
      from.on('end', () => {
        if (!stalled.has(from)) to.end();
      });
      from.on('error', () => to.destroy());
      from.on('close', () => {
        if (!stalled.has(from)) to.destroy();
        sockets.delete(from);
      });
      sockets.add(from);
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(DATABASE_URL);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    stall() {
      for (const socket of sockets) stalled.add(socket);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('createPgBus', () => {
  it(
    'carries a direct-SQL revoke to every instance within 100 ms (p99 of 200)',
    LATENCY_RETRY,
    async () => {
      const instances = [await instance(), await instance(), await instance()];
      const latencies: number[] = [];
      for (let i = 0; i < 200; i++) {
        const { id, token } = await newPat();
        const hash = store.hashToken(token);
        for (const { auth } of instances) expect((await auth.resolve('pat', token)).ok).toBe(true);
        const arrived = instances.map(
          ({ auth }) =>
            new Promise<number>((resolve) => {
              const off = auth.onInvalidate((event) => {
                if (event.type === 'invalidate' && event.tokenHash === hash) {
                  off();
                  resolve(performance.now());
                }
              });
            }),
        );
        const started = performance.now();
        await admin.query(
          `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
          [id],
        );
        const times = await Promise.all(arrived);
        latencies.push(Math.max(...times) - started);
        for (const { auth } of instances) {
          expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
        }
      }
      const p99 = percentile(latencies, 99);
      console.log(
        `createPgBus direct-SQL revoke → slowest of 3 instances rejects: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...latencies).toFixed(2)} ms (200 revokes)`,
      );
      expect(p99).toBeLessThanOrEqual(100);
    },
  );

  it('logs deletes, expiry and identity changes and a changed hash, but not touches', async () => {
    const [a] = [await instance()];
    const log = async () =>
      (
        await admin.query<{ kind: string; token_hash: string; reason: string }>(
          `SELECT kind, token_hash, reason FROM "${schema}".authcache_invalidation ORDER BY id DESC LIMIT 1`,
        )
      ).rows[0];
    const count = async () =>
      Number(
        (await admin.query(`SELECT count(*) AS n FROM "${schema}".authcache_invalidation`)).rows[0]
          .n,
      );
    const table = `"${schema}".personal_access_token`;

    const touched = await newPat();
    const before = await count();
    await admin.query(`UPDATE ${table} SET last_used_at = now() WHERE id = $1`, [touched.id]);
    // An UPDATE that changes nothing the identity is built from.
    await admin.query(`UPDATE ${table} SET name = name, token_prefix = 'x' WHERE id = $1`, [
      touched.id,
    ]);
    expect(await count()).toBe(before);

    // Every column findByHash builds the identity from is announced (migration 0005).
    for (const change of [
      `name = 'renamed'`,
      `user_id = 'u2'`,
      `scopes = '{admin}'`,
      `id = gen_random_uuid()`,
    ]) {
      const n = await count();
      await admin.query(`UPDATE ${table} SET ${change} WHERE token_hash = $1`, [
        store.hashToken(touched.token),
      ]);
      expect(await count(), change).toBe(n + 1);
      expect(await log()).toEqual({
        kind: 'pat',
        token_hash: store.hashToken(touched.token),
        reason: 'invalidated',
      });
    }

    const deleted = await newPat();
    await admin.query(`DELETE FROM ${table} WHERE id = $1`, [deleted.id]);
    expect(await log()).toEqual({
      kind: 'pat',
      token_hash: store.hashToken(deleted.token),
      reason: 'revoked',
    });

    const shortened = await newPat();
    await admin.query(
      `UPDATE ${table} SET expires_at = now() + interval '1 minute' WHERE id = $1`,
      [shortened.id],
    );
    expect(await log()).toEqual({
      kind: 'pat',
      token_hash: store.hashToken(shortened.token),
      reason: 'invalidated',
    });
    // Lengthening it changes the cached identity's expiresAt too.
    const n = await count();
    await admin.query(`UPDATE ${table} SET expires_at = now() + interval '1 day' WHERE id = $1`, [
      shortened.id,
    ]);
    expect(await count()).toBe(n + 1);
    // A revoked row stays revoked in every cache: deleting or changing it announces nothing.
    await admin.query(`UPDATE ${table} SET revoked = true WHERE id = $1`, [shortened.id]);
    const m = await count();
    await admin.query(`UPDATE ${table} SET scopes = '{x}' WHERE id = $1`, [shortened.id]);
    await admin.query(`DELETE FROM ${table} WHERE id = $1`, [shortened.id]);
    expect(await count()).toBe(m);

    const rotated = await newPat();
    await admin.query(`UPDATE ${table} SET token_hash = 'rotated-' || id WHERE id = $1`, [
      rotated.id,
    ]);
    expect(await log()).toEqual({
      kind: 'pat',
      token_hash: store.hashToken(rotated.token),
      reason: 'revoked',
    });

    const daemon = await store.createDaemonToken({ workspaceId: 'w1', daemonId: 'd1' });
    await admin.query(`UPDATE "${schema}".daemon_token SET revoked = true WHERE id = $1`, [
      daemon.id,
    ]);
    expect(await log()).toEqual({
      kind: 'daemon',
      token_hash: store.hashToken(daemon.token),
      reason: 'revoked',
    });
    await waitFor(() => a.events.some((e) => e.kind === 'daemon'));
    expect(a.events.find((e) => e.kind === 'daemon')).toMatchObject({ fromStore: true });
  });

  it('a shortened expiry reaches other instances, which then re-read the store', async () => {
    const [a, b] = [await instance(), await instance()];
    const { id, token } = await newPat();
    expect(await b.auth.resolve('pat', token)).toMatchObject({
      ok: true,
      identity: { expiresAt: null },
    });
    await admin.query(
      `UPDATE "${schema}".personal_access_token SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    await waitFor(() => b.events.some((e) => e.tokenHash === store.hashToken(token)));
    expect((await b.auth.resolve('pat', token)).ok).toBe(false);
    expect((await a.auth.resolve('pat', token)).ok).toBe(false);
  });

  it('catches up after its LISTEN connection is terminated while a revoke happens', async () => {
    const name = `authcache-bus-${Math.random().toString(36).slice(2)}`;
    const b = await instance({ applicationName: name, retryDelayMs: 300 });
    const { id, token } = await newPat();
    expect((await b.auth.resolve('pat', token)).ok).toBe(true);

    const { rows } = await admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    expect(rows).toEqual([{ terminated: true }]);
    await waitFor(() => !b.bus.stats().connected);
    expect(b.auth.stats()).toMatchObject({ buses: 1, busesConnected: 0 });
    // Revoked while B is not listening: no notification can reach it.
    await admin.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
      id,
    ]);
    expect((await b.auth.resolve('pat', token)).ok).toBe(true); // still cached: B has not heard
    await waitFor(() => b.bus.stats().connected);
    // Reconnecting read the log: rejected now, not after the 60 s TTL.
    expect(await b.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(b.bus.stats()).toMatchObject({ reconnects: 1 });
    expect(b.bus.stats().caughtUp).toBeGreaterThanOrEqual(1);
    const health = b.auth.stats();
    expect(health).toMatchObject({ buses: 1, busesConnected: 1 });
    expect(health.busCatchUps).toBeGreaterThanOrEqual(1);
    expect(health.busLagMs).toBeGreaterThanOrEqual(0);
    expect(health.busLagMs).toBeLessThan(60_000);
    expect(health.invalidationsBus).toBeGreaterThanOrEqual(1);
  });

  it('notices a silently dead LISTEN connection and catches up', async () => {
    const proxy = await stallableProxy();
    const proxied = createPool({ connectionString: proxy.url, max: 1 });
    const pool = createPool({ max: 2 });
    const bus = createPgBus({
      pool: proxied,
      schema,
      healthCheckIntervalMs: 100,
      retryDelayMs: 10,
      pruneIntervalMs: 0,
      logger: quiet,
    });
    const auth = createAuthCache({
      store: createPgTokenStore({ db: pool, schema }),
      bus,
      ttl: 60_000,
      logger: quiet,
    });
    try {
      await auth.ready();
      const { id, token } = await newPat();
      expect((await auth.resolve('pat', token)).ok).toBe(true);
      proxy.stall();
      // Revoked while the notification cannot get through, and nothing tells the bus.
      await admin.query(
        `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
        [id],
      );
      await waitFor(() => bus.stats().reconnects === 1 && bus.stats().connected, 3_000);
      expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
      expect(bus.stats().caughtUp).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.close(); // first: ending a stalled connection would wait forever
      await auth.close();
      await pool.end();
      await proxied.end();
    }
  });

  it('flushes when it was away longer than the retention', async () => {
    const name = `authcache-bus-${Math.random().toString(36).slice(2)}`;
    const b = await instance({
      applicationName: name,
      retryDelayMs: 400,
      retentionMs: 200,
      catchUpOverlapMs: 0,
      pruneIntervalMs: 0,
    });
    const { token } = await newPat();
    expect((await b.auth.resolve('pat', token)).ok).toBe(true);
    const flushed = new Promise<void>((resolve) =>
      b.auth.onInvalidate((event) => event.type === 'flush' && resolve()),
    );
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    await flushed;
    expect(b.bus.stats().flushes).toBe(1);
    expect(b.auth.stats().size).toBe(0);
  });

  it('publishes auth.invalidate() to the others and ignores its own', async () => {
    const [a, b] = [await instance(), await instance()];
    await a.auth.invalidate('pat', 'some-hash');
    await waitFor(() => b.events.some((e) => e.tokenHash === 'some-hash'));
    expect(b.events.find((e) => e.tokenHash === 'some-hash')).toEqual({
      type: 'invalidate',
      kind: 'pat',
      tokenHash: 'some-hash',
      reason: 'invalidated',
    });
    // A's own row comes back on its notification, and is skipped.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(a.events.filter((e) => e.tokenHash === 'some-hash')).toHaveLength(1);
  });

  it('prunes rows seen committed longer ago than the retention', async () => {
    const bus = createPgBus({ pool: admin, schema, retentionMs: 60_000, logger: quiet });
    await admin.query(
      `INSERT INTO "${schema}".authcache_invalidation (kind, token_hash, reason, created_at, visible_at)
        VALUES ('pat', 'old-1', 'revoked', now() - interval '2 minutes', now() - interval '2 minutes'),
               ('pat', 'old-2', 'revoked', now() - interval '2 minutes', now() - interval '2 minutes'),
               ('pat', 'new-1', 'revoked', now(), now() - interval '1 second'),
               -- A long transaction's row: created long ago, committed only now.
               ('pat', 'late-1', 'revoked', now() - interval '2 minutes', NULL)`,
    );
    expect(await bus.prune()).toBe(2);
    const { rows } = await admin.query(
      `SELECT token_hash, visible_at IS NOT NULL AS stamped FROM "${schema}".authcache_invalidation
        WHERE token_hash IN ('old-1', 'old-2', 'new-1', 'late-1') ORDER BY token_hash`,
    );
    expect(rows).toEqual([
      { token_hash: 'late-1', stamped: true },
      { token_hash: 'new-1', stamped: true },
    ]);
  });

  it('starts no pruning when closed while start() is connecting', async () => {
    const pool = createPool({ max: 1 });
    const warnings: string[] = [];
    const bus = createPgBus({
      pool,
      schema,
      pruneIntervalMs: 5,
      logger: { warn: (message: string) => warnings.push(message) },
    });
    const started = bus.start({ onInvalidate() {}, onFlush() {} });
    await bus.close(); // while connectOnce is still in flight
    await started;
    await pool.end();
    // A leftover prune timer would now fail on the ended pool and warn.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(warnings.filter((w) => w.includes('pruning'))).toEqual([]);
  });

  it('does not replay the log when its first max(id) failed', async () => {
    // The log table appears (already holding rows) only after the first connect failed on it.
    const target = freshSchemaName('bus_late');
    const staging = freshSchemaName('bus_staging');
    await migrate(admin, { schema: staging });
    const pool = createPool({ max: 1 });
    const failed: string[] = [];
    const bus = createPgBus({
      pool,
      schema: target,
      retryDelayMs: 20,
      pruneIntervalMs: 0,
      logger: { warn: (message: string) => failed.push(message) },
    });
    try {
      await admin.query(
        `INSERT INTO "${staging}".authcache_invalidation (kind, token_hash, reason)
          VALUES ('pat', 'before-start', 'revoked')`,
      );
      const started = bus.start({ onInvalidate() {}, onFlush() {} });
      await waitFor(() => failed.length > 0);
      await admin.query(`ALTER SCHEMA "${staging}" RENAME TO "${target}"`);
      await started;
      expect(bus.stats()).toMatchObject({ caughtUp: 0, received: 0 });
    } finally {
      await bus.close();
      await pool.end();
      await dropSchema(staging);
      await dropSchema(target);
    }
  });

  it('ignores notifications of another schema', async () => {
    const other = freshSchemaName('bus_other');
    await migrate(admin, { schema: other });
    try {
      const a = await instance();
      const otherStore = createPgTokenStore({ db: admin, schema: other });
      const { id } = await otherStore.createPat({ userId: 'u', name: 'x' });
      const received = a.bus.stats().received;
      await admin.query(
        `UPDATE "${other}".personal_access_token SET revoked = true WHERE id = $1`,
        [id],
      );
      // Then one in our schema, so we know the other one had its chance to arrive first.
      const mine = await newPat();
      await admin.query(
        `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
        [mine.id],
      );
      await waitFor(() => a.events.some((e) => e.tokenHash === store.hashToken(mine.token)));
      expect(a.bus.stats().received).toBe(received + 1);
    } finally {
      await dropSchema(other);
    }
  });
  it('announces a PAT scope or owner change made in SQL to the other instance', async () => {
    const [a, b] = [await instance(), await instance()];
    const { id, token } = await store.createPat({ userId: 'u1', name: 'n', scopes: ['read'] });
    for (const { auth } of [a, b]) {
      expect(await auth.resolve('pat', token)).toMatchObject({
        ok: true,
        identity: { subject: 'u1', scopes: ['read'] },
      });
    }
    await admin.query(
      `UPDATE "${schema}".personal_access_token SET scopes = '{read,write}' WHERE id = $1`,
      [id],
    );
    await waitFor(async () => {
      const result = await b.auth.resolve('pat', token);
      return result.ok && result.identity.scopes.includes('write');
    }, 1_000);
    await admin.query(`UPDATE "${schema}".personal_access_token SET user_id = 'u9' WHERE id = $1`, [
      id,
    ]);
    await waitFor(async () => {
      const result = await a.auth.resolve('pat', token);
      return result.ok && result.identity.subject === 'u9';
    }, 1_000);
    expect(b.events.at(-1)).toMatchObject({ kind: 'pat', reason: 'invalidated', fromStore: true });
  });

  it("announces a daemon token's workspace or daemon id change made in SQL", async () => {
    const b = await instance();
    const { id, token } = await store.createDaemonToken({ workspaceId: 'w1', daemonId: 'd1' });
    expect(await b.auth.resolve('daemon', token)).toMatchObject({
      ok: true,
      identity: { workspaceId: 'w1', daemonId: 'd1' },
    });
    await admin.query(
      `UPDATE "${schema}".daemon_token SET workspace_id = 'w2', daemon_id = 'd2' WHERE id = $1`,
      [id],
    );
    await waitFor(async () => {
      const result = await b.auth.resolve('daemon', token);
      return result.ok && result.identity.workspaceId === 'w2' && result.identity.subject === 'd2';
    }, 1_000);
  });

  it('announces access keys revoked, changed or deleted in SQL under sigv4:<access key id>', async () => {
    const [a, b] = [await instance(), await instance()];
    const keys = createPgAccessKeyStore({ db: admin, schema });
    const newKey = async () => {
      const accessKeyId = `AKIA${Math.random().toString(36).slice(2, 18).toUpperCase().padEnd(16, 'Q')}`;
      await keys.insertAccessKey({
        accessKeyId,
        secretCiphertext: 'v1.k.iv.ct.tag',
        principalId: 'p1',
      });
      for (const { auth } of [a, b]) {
        expect((await auth.resolveHash('sigv4', accessKeyId)).ok).toBe(true);
      }
      return accessKeyId;
    };
    const table = `"${schema}".access_key`;

    const revoked = await newKey();
    await admin.query(`UPDATE ${table} SET revoked = true WHERE access_key_id = $1`, [revoked]);
    await waitFor(async () => !(await b.auth.resolveHash('sigv4', revoked)).ok, 1_000);
    expect(await b.auth.resolveHash('sigv4', revoked)).toEqual({ ok: false, reason: 'revoked' });
    expect(b.events.find((e) => e.tokenHash === revoked)).toEqual({
      type: 'invalidate',
      kind: 'sigv4',
      tokenHash: revoked,
      reason: 'revoked',
      fromStore: true,
    });

    const deleted = await newKey();
    await admin.query(`DELETE FROM ${table} WHERE access_key_id = $1`, [deleted]);
    await waitFor(async () => !(await b.auth.resolveHash('sigv4', deleted)).ok, 1_000);

    const moved = await newKey();
    await admin.query(
      `UPDATE ${table} SET principal_id = 'p2', secret_ciphertext = 'v1.k2.iv.ct.tag'
        WHERE access_key_id = $1`,
      [moved],
    );
    await waitFor(async () => {
      const result = await b.auth.resolveHash('sigv4', moved);
      return (
        result.ok &&
        result.identity.subject === 'p2' &&
        result.identity.attributes?.secretCiphertext === 'v1.k2.iv.ct.tag'
      );
    }, 1_000);

    // Touches do not fire the trigger.
    const n = b.events.length;
    await admin.query(`UPDATE ${table} SET last_used_at = now() WHERE access_key_id = $1`, [moved]);
    const marker = await newPat();
    await admin.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
      marker.id,
    ]);
    await waitFor(() => b.events.some((e) => e.tokenHash === store.hashToken(marker.token)));
    expect(b.events.slice(n).map((e) => e.kind)).toEqual(['pat']);
  });

  /** Terminates an instance's LISTEN connection and waits until the bus noticed. */
  async function cutListener(b: Instance, name: string) {
    const { rows } = await admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    expect(rows).toEqual([{ terminated: true }]);
    await waitFor(() => !b.bus.stats().connected);
  }

  /** Revokes a fresh PAT in autocommit and waits until `b` heard of it. */
  async function revokeAndHear(b: Instance) {
    const pat = await newPat();
    await admin.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
      pat.id,
    ]);
    await waitFor(() => b.events.some((e) => e.tokenHash === store.hashToken(pat.token)));
  }

  it('catches up on a revoke whose transaction began before the disconnect and committed during it', async () => {
    const name = `authcache-bus-${Math.random().toString(36).slice(2)}`;
    // catchUpOverlapMs: 0 made the old created_at overlap as small as the gap in this test.
    const b = await instance({ applicationName: name, retryDelayMs: 500, catchUpOverlapMs: 0 });
    const { id, token } = await newPat();
    expect((await b.auth.resolve('pat', token)).ok).toBe(true);
    const tx = await admin.connect();
    try {
      await tx.query('BEGIN');
      // Takes the lower log id, with created_at = now.
      await tx.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
        id,
      ]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A later log row commits first, and B reads it.
      await revokeAndHear(b);
      await cutListener(b, name);
      await tx.query('COMMIT'); // while B is not listening
    } finally {
      tx.release();
    }
    await waitFor(() => b.bus.stats().connected);
    expect(await b.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('catches up on a long-open transaction that commits after later rows, across reconnects', async () => {
    const name = `authcache-bus-${Math.random().toString(36).slice(2)}`;
    // catchUpOverlapMs: 0 stands for a transaction open longer than the old overlap (10 s).
    const b = await instance({ applicationName: name, retryDelayMs: 300, catchUpOverlapMs: 0 });
    const { id, token } = await newPat();
    expect((await b.auth.resolve('pat', token)).ok).toBe(true);
    const tx = await admin.connect();
    try {
      await tx.query('BEGIN');
      await tx.query(`UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`, [
        id,
      ]);
      // A first reconnect and catch-up while the transaction is still open: it must not move
      // the catch-up past the uncommitted row.
      await cutListener(b, name);
      await waitFor(() => b.bus.stats().connected);
      await revokeAndHear(b);
      await cutListener(b, name);
      // Another row committed while B is away, besides the long transaction's.
      const other = await newPat();
      await admin.query(
        `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
        [other.id],
      );
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    await waitFor(() => b.bus.stats().connected);
    expect(await b.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(b.bus.stats().reconnects).toBe(2);
  });
});
