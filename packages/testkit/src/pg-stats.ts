import pg from 'pg';

/** Per-table and per-index counters of one schema, as Postgres's statistics system saw them. */
export interface SchemaStats {
  /** relname → counters. */
  tables: Record<string, { seqScan: number; idxScan: number; tupUpd: number }>;
  /** index name → number of scans that used it. */
  indexes: Record<string, number>;
}

/**
 * Reads Postgres's own statistics for `schema` (PG 15+), so tests count queries at the database
 * rather than in the client. `measured` is the pool whose activity is counted (use `max: 1`):
 * its backend's pending statistics are flushed first with `pg_stat_force_next_flush()` — a
 * backend otherwise reports at most once a second — so the numbers are exact, not sampled.
 * `reader` is another connection; its snapshot is cleared before reading.
 */
export async function readSchemaStats(options: {
  measured: pg.Pool;
  reader: pg.Pool | pg.Client;
  schema: string;
}): Promise<SchemaStats> {
  const { measured, reader, schema } = options;
  // Flushes when that backend goes idle, i.e. before it answers this very query.
  await measured.query('SELECT pg_stat_force_next_flush()');
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
    if (client !== reader) (client as pg.PoolClient).release();
  }
}
