import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';

/** The shared test Postgres. Never stopped by tests; each file works in its own schema. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name unique to this test file run (dropped in afterAll). */
export function freshSchemaName(label: string): string {
  return `authcache_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export function createPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, ...config });
  // An idle client that loses its connection emits on the pool; without a listener that is an
  // uncaught exception. Query errors still reach the caller.
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

/** Per-table and per-index counters of one schema, as the statistics collector saw them. */
export interface SchemaStats {
  /** relname → counters. */
  tables: Record<string, { seqScan: number; idxScan: number; tupUpd: number }>;
  /** index name → number of scans that used it. */
  indexes: Record<string, number>;
}

/**
 * Reads the database's own statistics for `schema`. `flushOn` is the connection whose activity
 * is measured: its pending statistics are forced out first (a backend otherwise reports at most
 * once a second), so the numbers are exact, not sampled.
 */
export async function readSchemaStats(
  reader: pg.Client | pg.Pool,
  flushOn: pg.Pool,
  schema: string,
): Promise<SchemaStats> {
  // Flushes when that backend goes idle, i.e. before it answers this very query.
  await flushOn.query('SELECT pg_stat_force_next_flush()');
  const client = reader instanceof pg.Pool ? await reader.connect() : reader;
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
    const result: SchemaStats = { tables: {}, indexes: {} };
    for (const row of tables.rows) {
      result.tables[row.relname] = {
        seqScan: Number(row.seq_scan),
        idxScan: Number(row.idx_scan ?? 0),
        tupUpd: Number(row.n_tup_upd),
      };
    }
    for (const row of indexes.rows) result.indexes[row.indexrelname] = Number(row.idx_scan);
    return result;
  } finally {
    if (client !== reader) (client as pg.PoolClient).release();
  }
}

/** A TCP proxy in front of Postgres that a test can cut (an outage) and restore. */
export interface CuttableProxy {
  readonly url: string;
  /** Drops every open connection and refuses new ones until `restore()`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(targetUrl: string = DATABASE_URL): Promise<CuttableProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 5432);
  const targetHost = target.hostname;
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    cut() {
      cut = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    restore() {
      cut = false;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
