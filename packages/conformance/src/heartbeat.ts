import { type AuthCache, createAuthCache } from '@authcache/core';
import { createPgTokenStore, migrate } from '@authcache/pg';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPool,
  dropSchema,
  freshSchemaName,
  readSchemaStats,
  type SchemaStats,
} from './postgres.js';
import type { AdapterHarness, TestClient } from './run.js';

const HEARTBEATS = 1000;
const WINDOW = 60_000;

/** Reads on `daemon_token` (any scan) and the token-hash lookups among them, plus rows updated. */
function cost(before: SchemaStats, after: SchemaStats) {
  const table = (s: SchemaStats) => s.tables.daemon_token ?? { seqScan: 0, idxScan: 0, tupUpd: 0 };
  const lookups = (s: SchemaStats) => s.indexes.daemon_token_token_hash_key ?? 0;
  return {
    scans:
      table(after).seqScan + table(after).idxScan - table(before).seqScan - table(before).idxScan,
    hashLookups: lookups(after) - lookups(before),
    updatedRows: table(after).tupUpd - table(before).tupUpd,
  };
}

/**
 * The daemon heartbeat is the hottest route: on a warm cache it must cost no store query, and
 * `last_used_at` must be written at most once per window. Counted at the database itself
 * (pg_stat_user_tables / pg_stat_user_indexes of a private schema, flushed with
 * `pg_stat_force_next_flush()` on the store's single connection), over real HTTP.
 */
export function runHeartbeat(harness: AdapterHarness): void {
  describe(`${harness.name}: daemon heartbeat on a warm cache`, () => {
    const schema = freshSchemaName(`heartbeat_${harness.name}`);
    let pool: pg.Pool;
    let reader: pg.Pool;
    let auth: AuthCache;
    let client: TestClient;
    let token: string;
    let now = Date.parse('2030-01-01T00:00:00Z');

    beforeAll(async () => {
      // max: 1 so the statistics flush below runs on the very backend that served the store.
      pool = createPool({ max: 1 });
      reader = createPool({ max: 1 });
      await migrate(pool, { schema });
      const store = createPgTokenStore({ db: pool, schema });
      token = (await store.createDaemonToken({ workspaceId: 'ws-1', daemonId: 'd-1' })).token;
      auth = createAuthCache({
        store,
        ttl: 10 * WINDOW,
        touchInterval: WINDOW,
        // Touches are flushed by the test, so what is written when is deterministic.
        touchFlushDelay: 3_600_000,
        clock: () => now,
      });
      client = await harness.mount([
        { path: '/api/daemon/heartbeat', middleware: 'daemonAuth', options: { auth } },
      ]);
    });
    afterAll(async () => {
      await client?.close?.();
      await auth?.close();
      await pool?.end();
      await reader?.end();
      await dropSchema(schema);
    });

    async function heartbeats(count: number): Promise<void> {
      const headers = { Authorization: `Bearer ${token}` };
      for (let sent = 0; sent < count; sent += 50) {
        const batch = Array.from({ length: Math.min(50, count - sent) }, () =>
          client.request('GET', '/api/daemon/heartbeat', headers),
        );
        for (const res of await Promise.all(batch)) expect(res.status).toBe(200);
      }
    }

    // 3 000 real HTTP requests: counts are what is checked, so give a loaded 2-core runner time.
    it(`${HEARTBEATS} heartbeats per window: 0 SELECTs, at most 1 UPDATE`, {
      timeout: 120_000,
    }, async () => {
      // Warm-up: the one lookup and the first window's touch, both visible in the counters.
      const cold = await readSchemaStats({ measured: pool, reader, schema });
      await heartbeats(1);
      await auth.flushTouches();
      expect(auth.stats().storeQueries).toBe(1);
      let before = await readSchemaStats({ measured: pool, reader, schema });
      const warmUp = cost(cold, before);
      expect(warmUp.scans).toBeGreaterThanOrEqual(2);
      expect(warmUp.updatedRows).toBe(1);

      // Same window: nothing at all reaches the database.
      await heartbeats(HEARTBEATS);
      await auth.flushTouches();
      let after = await readSchemaStats({ measured: pool, reader, schema });
      expect(cost(before, after)).toEqual({ scans: 0, hashLookups: 0, updatedRows: 0 });

      // Next two windows (still within the cache TTL): exactly one conditional UPDATE each.
      for (let window = 1; window <= 2; window++) {
        now += WINDOW + 1_000;
        before = after;
        await heartbeats(HEARTBEATS);
        await auth.flushTouches();
        after = await readSchemaStats({ measured: pool, reader, schema });
        const { scans, hashLookups, updatedRows } = cost(before, after);
        expect(hashLookups).toBe(0);
        expect(updatedRows).toBe(1);
        // The UPDATE's own scan by primary key is the only read.
        expect(scans).toBeLessThanOrEqual(1);
      }
      expect(auth.stats().storeQueries).toBe(1);
      expect(auth.stats().touchBatches).toBe(3);

      const { rows } = await reader.query(`SELECT last_used_at FROM "${schema}".daemon_token`);
      expect(new Date(rows[0].last_used_at).getTime()).toBe(now);
    });
  });
}
