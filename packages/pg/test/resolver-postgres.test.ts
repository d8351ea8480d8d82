import { createAuthCache, generateToken, type Identity } from '@authcache/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgTokenStore, migrate, type PgTokenStore } from '../src/index.js';
import {
  createPool,
  DATABASE_URL,
  dropSchema,
  freshSchemaName,
  readSchemaStats,
  type SchemaStats,
  startProxy,
} from './helpers.js';

// Every count in this file is read from the database's own statistics (pg_stat_user_tables and
// pg_stat_user_indexes of this file's schema), not from a wrapper around the client:
// pg_stat_statements is not loaded on the test server, and per-schema table statistics are not
// disturbed by other test files running at the same time.
//
// The store runs on a pool of ONE connection that never idles out, so forcing that backend's
// statistics flush makes the numbers exact. Sequential scans are disabled on it so that every
// statement shows up on the index that tells which statement it was: lookups by hash on the
// token_hash unique index, touches and revokes on the primary key. Each test checks seq_scan
// stayed 0, so nothing escapes the count.
//
// Only that pool may touch the tables while counts matter: another connection's statistics are
// flushed whenever it pleases and would land in some later test's window. So verification reads
// (last_used_at, revoked) also go through the store's pool, before the next baseline is taken;
// `reader` only reads the statistics views. The outage test's own pool comes after every
// counting test.

const PAT = 'personal_access_token';
const PAT_HASH_INDEX = 'personal_access_token_token_hash_key';
const PAT_PKEY = 'personal_access_token_pkey';
const TTL = 60_000;

let schema: string;
let storePool: pg.Pool;
let reader: pg.Client;
let store: PgTokenStore;

beforeAll(async () => {
  const probe = createPool({ max: 1 });
  const { rows } = await probe.query<{ v: number }>(
    "SELECT current_setting('server_version_num')::int AS v",
  );
  await probe.end();
  // pg_stat_force_next_flush() appeared in Postgres 15.
  if (rows[0]!.v < 150000) throw new Error('these tests count at the database: Postgres >= 15');
  schema = freshSchemaName('resolver');
  storePool = createPool({ max: 1, idleTimeoutMillis: 0, options: '-c enable_seqscan=off' });
  await migrate(storePool, { schema });
  store = createPgTokenStore({ db: storePool, schema });
  reader = new pg.Client({ connectionString: DATABASE_URL });
  await reader.connect();
});

afterAll(async () => {
  await reader?.end();
  await storePool?.end();
  if (schema) await dropSchema(schema);
});

/** Statements the store ran since `before`, by what they were. */
function delta(before: SchemaStats, after: SchemaStats) {
  const table = (s: SchemaStats, name: string) =>
    s.tables[name] ?? { seqScan: 0, idxScan: 0, tupUpd: 0 };
  const scans = (s: SchemaStats) =>
    Object.values(s.tables).reduce((sum, t) => sum + t.seqScan + t.idxScan, 0);
  return {
    /** findByHash on the PAT table. */
    selects: (after.indexes[PAT_HASH_INDEX] ?? 0) - (before.indexes[PAT_HASH_INDEX] ?? 0),
    /** touch / revoke statements on the PAT table. */
    updates: (after.indexes[PAT_PKEY] ?? 0) - (before.indexes[PAT_PKEY] ?? 0),
    rowsUpdated: table(after, PAT).tupUpd - table(before, PAT).tupUpd,
    seqScans: table(after, PAT).seqScan - table(before, PAT).seqScan,
    /** Every scan of every table of the schema. */
    allScans: scans(after) - scans(before),
  };
}

const stats = () => readSchemaStats({ measured: storePool, reader, schema });

function fakeClock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

async function lastUsedAt(id: string): Promise<Date | null> {
  const { rows } = await storePool.query(
    `SELECT last_used_at FROM "${schema}".${PAT} WHERE id = $1`,
    [id],
  );
  return rows[0].last_used_at;
}

describe('createAuthCache over createPgTokenStore, counted at the database', () => {
  it('the counting method sees every store statement', async () => {
    const created = await store.createPat({ userId: 'calibrate', name: 'c' });
    const before = await stats();
    await store.findByHash('pat', store.hashToken(created.token));
    await store.findByHash('pat', store.hashToken(created.token));
    await store.touch('pat', [created.id], new Date(), new Date(0));
    const d = delta(before, await stats());
    expect(d).toMatchObject({ selects: 2, updates: 1, rowsUpdated: 1, seqScans: 0, allScans: 3 });
  });

  it('10 000 resolves of one token over 10 ttl windows: ≤ 11 SELECTs, ≤ 10 UPDATEs', async () => {
    const created = await store.createPat({ userId: 'busy', name: 'hot' });
    const clock = fakeClock();
    // ttl 1 ms short of the step grid, so each window ends between two resolves (not on one).
    const auth = createAuthCache({
      store,
      ttl: TTL - 1,
      ttlJitter: 0, // windows on the exact grid; jitter is tested in core
      clock: clock.now,
      touchFlushDelay: 3_600_000,
    });
    const resolves = 10_000;
    const step = (10 * TTL) / resolves;
    const before = await stats();
    let accepted = 0;
    for (let i = 0; i < resolves; i++) {
      const result = await auth.resolve('pat', created.token);
      if (result.ok && result.identity.tokenId === created.id) accepted++;
      // Write pending touches after every resolve: the scheduler's own throttle, not batching
      // up a window's uses, must be what keeps the UPDATE count down.
      await auth.flushTouches();
      clock.advance(step);
    }
    await auth.close();
    const d = delta(before, await stats());
    expect(accepted).toBe(resolves);
    expect(d.seqScans).toBe(0);
    // One load per window; a 0 would mean the counter is blind.
    expect(d.selects).toBeGreaterThanOrEqual(10);
    expect(d.selects).toBeLessThanOrEqual(11);
    expect(d.updates).toBeGreaterThanOrEqual(1);
    expect(d.updates).toBeLessThanOrEqual(10);
    expect(d.rowsUpdated).toBeLessThanOrEqual(10);
    expect(d.allScans).toBe(d.selects + d.updates);
    expect(auth.stats().storeQueries).toBe(d.selects);
    // The last write carries the fake clock of the last touched window.
    const used = await lastUsedAt(created.id);
    expect(used).not.toBeNull();
    expect(used!.getTime()).toBeGreaterThanOrEqual(clock.now() - 10 * TTL + 9 * (TTL - 1));
  });

  it('1000 concurrent resolves of a cold token: exactly one SELECT', async () => {
    const created = await store.createPat({ userId: 'crowd', name: 'cold' });
    const auth = createAuthCache({ store, touchFlushDelay: 3_600_000 });
    const before = await stats();
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => auth.resolve('pat', created.token)),
    );
    const d = delta(before, await stats());
    expect(results.every((r) => r.ok && r.identity.tokenId === created.id)).toBe(true);
    expect(d.selects).toBe(1);
    expect(d.allScans).toBe(1);
    await auth.close();
  });

  it('rejects bad input as malformed with zero database queries', async () => {
    const auth = createAuthCache({ store });
    const valid = generateToken('pat');
    const flipped = valid.slice(0, -1) + (valid.endsWith('a') ? 'b' : 'a');
    const bad = [
      '',
      'x'.repeat(10 * 1024),
      `mul_${'x'.repeat(10 * 1024)}`,
      `mul_${'é'.repeat(36)}`,
      'mul_ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâã',
      `mul_${'a'.repeat(17)}\u0000${'a'.repeat(18)}`,
      `mul_${'a'.repeat(17)}\n${'a'.repeat(18)}`,
      `${valid}\r\n`,
      ` ${valid}`,
      `ghp_${valid.slice(4)}`,
      `MUL_${valid.slice(4)}`,
      flipped,
      valid.slice(0, -1),
      `${valid}a`,
    ];
    const before = await stats();
    for (const token of bad) {
      expect(await auth.resolve(['pat', 'daemon'], token)).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
    const d = delta(before, await stats());
    expect(d.allScans).toBe(0);
    expect(d.rowsUpdated).toBe(0);
    expect(auth.stats()).toMatchObject({ malformed: bad.length, storeQueries: 0 });
    await auth.close();
  });

  it('a valid-format unknown token costs one query, then is negative-cached', async () => {
    const clock = fakeClock();
    const auth = createAuthCache({ store, negativeTtl: 5_000, clock: clock.now });
    const unknown = generateToken('pat');
    const before = await stats();
    for (let i = 0; i < 50; i++) {
      expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
      clock.advance(50);
    }
    const mid = await stats();
    expect(delta(before, mid).selects).toBe(1);
    // Once the negative entry expires, the store is asked again (once).
    clock.advance(5_000);
    for (let i = 0; i < 10; i++) await auth.resolve('pat', unknown);
    expect(delta(mid, await stats()).selects).toBe(1);
    await auth.close();
  });

  it('never accepts a token after revoke() returned, even with a lookup in flight', async () => {
    const created = await store.createPat({ userId: 'racer', name: 'r' });
    let releaseLoad!: () => void;
    const gate = new Promise<void>((resolve) => {
      releaseLoad = resolve;
    });
    let loadRead!: () => void;
    const readDone = new Promise<void>((resolve) => {
      loadRead = resolve;
    });
    let gated = 0;
    // The real store, with its first lookup's (pre-revoke) answer held back until after revoke.
    const racing: PgTokenStore = {
      ...store,
      async findByHash(kind, tokenHash): Promise<Identity | null> {
        const identity = await store.findByHash(kind, tokenHash);
        if (gated++ === 0) {
          loadRead();
          await gate;
        }
        return identity;
      },
    };
    const auth = createAuthCache({ store: racing });
    const before = await stats();
    const inFlight = auth.resolve('pat', created.token);
    await readDone; // the database already answered "live token"
    expect(await auth.revoke('pat', created.id)).toBe(true);
    releaseLoad();
    const raced = await inFlight;
    expect(raced.ok).toBe(false);
    for (let i = 0; i < 5; i++) {
      const again = await auth.resolve('pat', created.token);
      expect(again.ok).toBe(false);
    }
    const d = delta(before, await stats());
    // The stale answer was really read from the database (and then dropped).
    expect(d.selects).toBeGreaterThanOrEqual(1);
    expect(auth.stats().droppedFills).toBeGreaterThanOrEqual(1);
    const { rows } = await storePool.query(`SELECT revoked FROM "${schema}".${PAT} WHERE id = $1`, [
      created.id,
    ]);
    expect(rows[0].revoked).toBe(true);
    await auth.close();
  });

  it('answers unavailable while the store is unreachable, caches nothing, recovers', async () => {
    const proxy = await startProxy();
    const pool = createPool({
      connectionString: proxy.url,
      max: 2,
      connectionTimeoutMillis: 5_000,
    });
    const viaProxy = createPgTokenStore({ db: pool, schema });
    const warm = await store.createPat({ userId: 'outage', name: 'warm' });
    const cold = await store.createPat({ userId: 'outage', name: 'cold' });
    const unknown = generateToken('pat');
    const clock = fakeClock();
    const warnings: string[] = [];
    const auth = createAuthCache({
      store: viaProxy,
      clock: clock.now,
      logger: { warn: (message) => warnings.push(message) },
    });
    try {
      expect((await auth.resolve('pat', warm.token)).ok).toBe(true);

      proxy.cut();
      for (let i = 0; i < 3; i++) {
        expect(await auth.resolve('pat', cold.token)).toEqual({ ok: false, reason: 'unavailable' });
        expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'unavailable' });
      }
      // Each attempt went to the store: nothing about the outage was cached.
      expect(auth.stats().storeErrors).toBe(6);
      // A token already in L1 keeps working through the outage until its entry expires…
      expect((await auth.resolve('pat', warm.token)).ok).toBe(true);
      // …after which it is unavailable, not invalid.
      clock.advance(TTL);
      expect(await auth.resolve('pat', warm.token)).toEqual({ ok: false, reason: 'unavailable' });
      // A failing touch never fails auth; it is logged without the token.
      await auth.flushTouches();
      expect(warnings.join('\n')).not.toContain(warm.token);

      proxy.restore();
      expect((await auth.resolve('pat', cold.token)).ok).toBe(true);
      expect((await auth.resolve('pat', warm.token)).ok).toBe(true);
      expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    } finally {
      await auth.close();
      await pool.end();
      await proxy.close();
    }
  });

  it('a peppered store and its auth cache agree on hashes', async () => {
    const peppered = createPgTokenStore({ db: storePool, schema, pepper: 'resolver-pepper' });
    const created = await peppered.createPat({ userId: 'pepper', name: 'p' });
    const auth = createAuthCache({ store: peppered });
    expect(auth.hashToken(created.token)).toBe(peppered.hashToken(created.token));
    expect(auth.hashToken(created.token)).not.toBe(store.hashToken(created.token));
    const result = await auth.resolve('pat', created.token);
    expect(result.ok && result.identity.tokenId).toBe(created.id);
    // The unpeppered cache cannot find it: the stored hash is the HMAC.
    const plain = createAuthCache({ store });
    expect(await plain.resolve('pat', created.token)).toEqual({ ok: false, reason: 'invalid' });
    await auth.close();
    await plain.close();
  });

  it('close() writes pending touches to the database', async () => {
    const created = await store.createPat({ userId: 'closer', name: 'c' });
    const daemon = await store.createDaemonToken({ workspaceId: 'ws', daemonId: 'dm' });
    const clock = fakeClock(Date.parse('2031-06-01T12:00:00.000Z'));
    const auth = createAuthCache({ store, clock: clock.now, touchFlushDelay: 3_600_000 });
    expect((await auth.resolve('pat', created.token)).ok).toBe(true);
    expect((await auth.resolve('daemon', daemon.token)).ok).toBe(true);
    expect(await lastUsedAt(created.id)).toBeNull();
    await auth.close();
    expect((await lastUsedAt(created.id))?.getTime()).toBe(clock.now());
    const { rows } = await storePool.query(
      `SELECT last_used_at FROM "${schema}".daemon_token WHERE id = $1`,
      [daemon.id],
    );
    expect(rows[0].last_used_at?.getTime()).toBe(clock.now());
  });
});

describe('a black-holed Postgres (accepts connections, never answers)', () => {
  it('answers unavailable within storeTimeoutMs, never caches the late answer, recovers', async () => {
    const STORE_TIMEOUT = 300;
    const proxy = await startProxy();
    // No client-side timeouts at all: only the resolver's deadline bounds a lookup.
    const pool = createPool({ connectionString: proxy.url, max: 2 });
    const viaProxy = createPgTokenStore({ db: pool, schema });
    const before = await store.createPat({ userId: 'blackhole', name: 'before' });
    const cold = await store.createPat({ userId: 'blackhole', name: 'cold' });
    const auth = createAuthCache({
      store: viaProxy,
      storeTimeoutMs: STORE_TIMEOUT,
      logger: { warn() {} },
    });
    try {
      // One connection is open and idle when the network goes silent.
      expect((await auth.resolve('pat', before.token)).ok).toBe(true);
      proxy.blackhole();
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        expect(await auth.resolve('pat', cold.token)).toEqual({ ok: false, reason: 'unavailable' });
        const took = performance.now() - started;
        expect(took).toBeGreaterThanOrEqual(STORE_TIMEOUT - 5);
        // Generous bound for a busy machine; without the deadline this never returns.
        expect(took).toBeLessThan(STORE_TIMEOUT + 2_000);
      }
      expect(auth.stats()).toMatchObject({ storeTimeouts: 3, storeErrors: 3, size: 1 });

      proxy.restore();
      // The held queries now get their (late) answers: they must not land in the cache.
      const queries = auth.stats().storeQueries;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(auth.stats()).toMatchObject({ size: 1, storeQueries: queries });
      let result = await auth.resolve('pat', cold.token);
      for (let i = 0; i < 20 && !result.ok; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        result = await auth.resolve('pat', cold.token);
      }
      expect(result.ok).toBe(true);
      expect(auth.stats().size).toBe(2);
    } finally {
      await auth.close();
      await pool.end();
      await proxy.close();
    }
  });
});
