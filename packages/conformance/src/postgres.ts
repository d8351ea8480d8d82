import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { type AuthCache, type AuthCacheOptions, createAuthCache } from '@authcache/core';
import { migrate, type PgTokenStore, pgTokenStore } from '@authcache/pg';
import pg from 'pg';

/** The shared test Postgres. Never stopped by tests; each test file works in its own schema. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name unique to this run (drop it with {@link dropSchema}). */
export function freshSchemaName(label: string): string {
  return `authcache_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export function createPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, ...config });
  // An idle client whose connection is cut emits 'error' on the pool; queries still reject.
  pool.on('error', () => {});
  return pool;
}

export async function dropSchema(schema: string): Promise<void> {
  const pool = createPool({ max: 1 });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}

/** A TCP proxy in front of Postgres that a test can cut to simulate an outage. */
export interface CuttableProxy {
  readonly url: string;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  close(): Promise<void>;
}

export async function startProxy(targetUrl: string = DATABASE_URL): Promise<CuttableProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let isCut = false;
  const server = net.createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    sockets.add(client).add(upstream);
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    cut() {
      isCut = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Counters of one schema's tables and indexes, as Postgres's statistics collector saw them. */
export interface SchemaStats {
  tables: Record<string, { seqScan: number; idxScan: number; tupUpd: number }>;
  indexes: Record<string, number>;
}

/**
 * Reads `pg_stat_user_tables` / `pg_stat_user_indexes` for `schema`. `measured` is the pool whose
 * activity is counted (use `max: 1`): its backend's pending statistics are forced out first with
 * `pg_stat_force_next_flush()` (PG 15+), so the numbers are exact rather than up to 1 s late.
 */
export async function readSchemaStats(
  measured: pg.Pool,
  reader: pg.Pool,
  schema: string,
): Promise<SchemaStats> {
  await measured.query('SELECT pg_stat_force_next_flush()');
  const client = await reader.connect();
  try {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const tables = await client.query<{
      relname: string;
      seq_scan: string;
      idx_scan: string | null;
      n_tup_upd: string;
    }>(
      'SELECT relname, seq_scan, idx_scan, n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1',
      [schema],
    );
    const indexes = await client.query<{ indexrelname: string; idx_scan: string }>(
      'SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = $1',
      [schema],
    );
    const stats: SchemaStats = { tables: {}, indexes: {} };
    for (const row of tables.rows) {
      stats.tables[row.relname] = {
        seqScan: Number(row.seq_scan),
        idxScan: Number(row.idx_scan ?? 0),
        tupUpd: Number(row.n_tup_upd),
      };
    }
    for (const row of indexes.rows) stats.indexes[row.indexrelname] = Number(row.idx_scan);
    return stats;
  } finally {
    client.release();
  }
}

/** An auth cache over `pgTokenStore` in a private schema of the shared Postgres. */
export interface PostgresAuth {
  readonly auth: AuthCache;
  readonly store: PgTokenStore;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

export async function openPostgresAuth(
  label: string,
  options: Omit<AuthCacheOptions, 'store'> = {},
): Promise<PostgresAuth> {
  const schema = freshSchemaName(label);
  const pool = createPool();
  await migrate(pool, { schema });
  const store = pgTokenStore({ db: pool, schema });
  const auth = createAuthCache({ store, ...options });
  return {
    auth,
    store,
    pool,
    async close() {
      await auth.close();
      await pool.end();
      await dropSchema(schema);
    },
  };
}
