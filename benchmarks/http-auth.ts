// HTTP benchmark: the same Express 5 route behind a typical per-request database check
// (passport-http-bearer: SELECT the token by hash, then UPDATE last_used_at) and behind
// @authcache/express, on real Postgres (and Redis), measured side by side in one run.
//
// Each variant is an Express app in its own child process (http-server.ts); autocannon loads it
// over loopback from this process. Statements per request are counted by Postgres itself, from
// pg_stat_user_tables / pg_stat_user_indexes of the schemas this script creates and drops
// (one per variant).
//
// Run: npx -y pnpm@10 bench http      (env: see `config` below and docs/benchmarks.md)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPgTokenStore, migrate } from '@authcache/pg';
import autocannon from 'autocannon';
import pg from 'pg';
import { envNumber } from './env.js';
import type { ServerStats, Variant } from './http-server.js';
import { loadRedisTier } from './redis-tier.js';

const config = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  /** Measured seconds of load per variant, split into `rounds` slices run in turn. */
  duration: envNumber('BENCH_DURATION', 5),
  /**
   * The variants take turns: round 1 of every variant, then round 2 of every variant, …, so
   * that other work on a shared machine slows every variant alike.
   */
  rounds: envNumber('BENCH_ROUNDS', 5),
  /** Seconds of load per variant before the measured rounds (not in req/s or latency). */
  warmup: envNumber('BENCH_WARMUP', 1),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  /** Distinct tokens per variant, rotated across requests. */
  tokens: envNumber('BENCH_TOKENS', 100),
  /** pg.Pool size of every variant. */
  poolSize: envNumber('BENCH_POOL_SIZE', 10),
};
/** autocannon counts whole seconds. */
const roundSeconds = Math.max(1, Math.round(config.duration / config.rounds));

const LABELS: Record<Variant, string> = {
  floor: 'express, no auth (ceiling)',
  peer: 'peer: passport-http-bearer + SELECT/UPDATE',
  authcache: '@authcache/express, L1',
  'authcache-redis': '@authcache/express, L1 + Redis',
};

interface TableCounters {
  seqScan: number;
  idxScan: number;
  hashIdxScan: number;
  pkeyIdxScan: number;
  tupUpd: number;
}

interface VariantResult {
  variant: Variant;
  rps: number;
  p50: number;
  p99: number;
  /** Requests answered 200 over warm-up + measured rounds, counted by the server. */
  served: number;
  db: TableCounters;
  app: ServerStats;
}

async function readCounters(admin: pg.Client, schema: string): Promise<TableCounters> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const table = await admin.query<{ seq_scan: string; idx_scan: string; n_tup_upd: string }>(
    `SELECT seq_scan, coalesce(idx_scan, 0) AS idx_scan, n_tup_upd FROM pg_stat_user_tables
      WHERE schemaname = $1 AND relname = 'personal_access_token'`,
    [schema],
  );
  const indexes = await admin.query<{ indexrelname: string; idx_scan: string }>(
    `SELECT indexrelname, idx_scan FROM pg_stat_user_indexes
      WHERE schemaname = $1 AND relname = 'personal_access_token'`,
    [schema],
  );
  const row = table.rows[0];
  if (!row) throw new Error('personal_access_token has no statistics row');
  const scansOf = (suffix: string) =>
    Number(indexes.rows.find((r) => r.indexrelname.endsWith(suffix))?.idx_scan ?? 0);
  return {
    seqScan: Number(row.seq_scan),
    idxScan: Number(row.idx_scan),
    hashIdxScan: scansOf('_token_hash_key'),
    pkeyIdxScan: scansOf('_pkey'),
    tupUpd: Number(row.n_tup_upd),
  };
}

/**
 * Counters once every backend of `appName` has exited. A backend flushes its pending table
 * statistics when it exits (otherwise only about once a second, or 10 s after going idle), and
 * leaves pg_stat_activity slightly before that flush: so wait for it to leave, then read until
 * two reads 200 ms apart agree.
 */
async function settledCounters(
  admin: pg.Client,
  schema: string,
  appName: string,
): Promise<TableCounters> {
  for (let i = 0; ; i++) {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
      [appName],
    );
    if (rows[0]!.n === 0) break;
    if (i === 200) throw new Error(`backends of ${appName} did not exit`);
    await sleep(25);
  }
  let previous = await readCounters(admin, schema);
  for (let i = 0; i < 25; i++) {
    await sleep(200);
    const current = await readCounters(admin, schema);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    previous = current;
  }
  throw new Error('table statistics did not settle');
}

function diff(after: TableCounters, before: TableCounters): TableCounters {
  return {
    seqScan: after.seqScan - before.seqScan,
    idxScan: after.idxScan - before.idxScan,
    hashIdxScan: after.hashIdxScan - before.hashIdxScan,
    pkeyIdxScan: after.pkeyIdxScan - before.pkeyIdxScan,
    tupUpd: after.tupUpd - before.tupUpd,
  };
}

/** One load run; every response time (ms, sub-ms precision) is appended to `latencies`. */
async function load(
  variant: Variant,
  port: number,
  tokens: readonly string[],
  seconds: number,
  latencies?: number[],
) {
  // One prebuilt request per token (building them per request would load the load generator).
  const requests = tokens.map((token) => ({
    method: 'GET' as const,
    path: '/api/me',
    headers: { authorization: `Bearer ${token}` },
  }));
  let clients = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: config.connections,
        duration: seconds,
        requests,
        // Every connection cycles through all the tokens, each from its own starting point, so
        // that even a 1 s round with ~30 requests per connection spreads over every token.
        setupClient: (client) => {
          const offset =
            Math.floor((clients++ * requests.length) / config.connections) % requests.length;
          client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
        },
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    if (latencies) {
      instance.on('response', (_client, _status, _bytes, responseTime) => {
        latencies.push(responseTime);
      });
    }
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(
      `${LABELS[variant]}: load run failed: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
    );
  }
  return result;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A variant's server, running in its own child process against its own schema. */
interface RunningServer {
  variant: Variant;
  schema: string;
  appName: string;
  tokens: string[];
  port: number;
  before: TableCounters;
  stop(): Promise<ServerStats>;
  kill(): void;
}

async function startServer(
  variant: Variant,
  schema: string,
  tokens: string[],
  admin: pg.Client,
  runId: string,
): Promise<RunningServer> {
  const appName = `authcache-bench-${runId}-${variant}`;
  const before = await readCounters(admin, schema);
  const child = fork(new URL('./http-server.ts', import.meta.url), [], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: {
      ...process.env,
      BENCH_VARIANT: variant,
      BENCH_SCHEMA: schema,
      BENCH_APP_NAME: appName,
      BENCH_POOL_SIZE: String(config.poolSize),
      BENCH_REDIS_PREFIX: `authcache-bench:${runId}:`,
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  };
  try {
    const [{ port }] = await Promise.race([
      once(child, 'message') as Promise<[{ type: string; port: number }]>,
      exited.then(([code]) => {
        throw new Error(`${variant} server exited with ${code} before listening`);
      }),
    ]);
    return {
      variant,
      schema,
      appName,
      tokens,
      port,
      before,
      kill,
      async stop() {
        const stats = once(child, 'message') as Promise<[ServerStats]>;
        child.send({ type: 'stop' });
        const [app] = await stats;
        await exited;
        return app;
      },
    };
  } catch (error) {
    kill();
    throw error;
  }
}

async function redisAvailable(): Promise<string | null> {
  const loaded = await loadRedisTier();
  if (!loaded) return '@authcache/redis is not in this checkout (packages/redis)';
  try {
    const redis = await loaded.connect(config.redisUrl);
    try {
      await redis.ping();
    } finally {
      redis.disconnect();
    }
    return null;
  } catch (error) {
    return `Redis at ${config.redisUrl} did not answer (${(error as Error).message})`;
  }
}

const fixed = (value: number, digits: number) => value.toFixed(digits);

function printResults(results: VariantResult[], skipped: string[]): void {
  const peer = results.find((r) => r.variant === 'peer')!;
  const perRequest = (r: VariantResult) => ({
    selects: r.db.hashIdxScan / r.served,
    rowsUpdated: r.db.tupUpd / r.served,
    scans: (r.db.seqScan + r.db.idxScan) / r.served,
    app: (r.app.selects + r.app.updates) / r.served,
  });
  const peerDb = perRequest(peer);
  console.log(
    `\nhttp: GET /api/me on Express 5, ${config.tokens} PATs per variant rotated, ` +
      `${config.connections} connections, ${config.warmup} s warm-up + ${config.rounds} × ` +
      `${roundSeconds} s measured per variant (variants take turns each round), ` +
      `pg pool ${config.poolSize}, each server in its own process`,
  );
  const speed: Record<string, Record<string, string>> = {};
  for (const r of results) {
    speed[LABELS[r.variant]] = {
      'req/s': fixed(r.rps, 0),
      'p50 ms': fixed(r.p50, 1),
      'p99 ms': fixed(r.p99, 1),
      'req/s ÷ peer': fixed(r.rps / peer.rps, 2),
      'p50 ÷ peer': fixed(r.p50 / peer.p50, 2),
      'p99 ÷ peer': fixed(r.p99 / peer.p99, 2),
    };
  }
  console.table(speed);
  console.log('database work per request, counted by Postgres (warm-up included):');
  const db: Record<string, Record<string, string>> = {};
  for (const r of results) {
    if (r.variant === 'floor') continue;
    const x = perRequest(r);
    db[LABELS[r.variant]] = {
      requests: String(r.served),
      'SELECT/req': fixed(x.selects, 4),
      'rows upd/req': fixed(x.rowsUpdated, 4),
      'table scans/req': fixed(x.scans, 4),
      'app stmts/req': fixed(x.app, 4),
      'SELECT ÷ peer': fixed(x.selects / peerDb.selects, 4),
      'rows upd ÷ peer': fixed(x.rowsUpdated / peerDb.rowsUpdated, 4),
    };
  }
  console.table(db);
  for (const r of results) {
    const c = r.app.cache;
    if (c) {
      console.log(
        `  ${LABELS[r.variant]}: L1 hits ${c.hits}, misses ${c.misses}, L2 hits ${c.l2Hits}, ` +
          `store queries ${c.storeQueries}, touch batches ${c.touchBatches}`,
      );
    }
  }
  for (const note of skipped) console.log(`note: ${note}`);
}

export async function benchHttpAuth(): Promise<void> {
  const runId = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({
    connectionString: config.databaseUrl,
    application_name: `authcache-bench-${runId}-admin`,
  });
  await admin.connect();
  const variants: Variant[] = ['floor', 'peer', 'authcache'];
  const skipped: string[] = [];
  const redisMissing = await redisAvailable();
  if (redisMissing) skipped.push(`skipped "${LABELS['authcache-redis']}": ${redisMissing}`);
  else variants.push('authcache-redis');
  // One schema (and one set of tokens) per variant: the database's per-table statistics then
  // count each variant alone, and one variant's last_used_at writes cannot spare another's.
  const schemaOf = (variant: Variant) => `authcache_bench_${runId}_${variant.replace('-', '_')}`;
  const servers: RunningServer[] = [];
  try {
    const setupName = `authcache-bench-${runId}-setup`;
    const setup = new pg.Pool({
      connectionString: config.databaseUrl,
      max: 4,
      application_name: setupName,
    });
    const tokensOf = new Map<Variant, string[]>();
    try {
      for (const variant of variants) {
        const schema = schemaOf(variant);
        await migrate(setup, { schema });
        const store = createPgTokenStore({ db: setup, schema });
        const created = await Promise.all(
          Array.from({ length: config.tokens }, (_, i) =>
            store.createPat({ userId: `user-${i}`, name: `bench-${i}` }),
          ),
        );
        tokensOf.set(
          variant,
          created.map((c) => c.token),
        );
      }
    } finally {
      await setup.end();
    }
    // Setup's own inserts are flushed before the servers' "before" snapshots.
    for (const variant of variants) await settledCounters(admin, schemaOf(variant), setupName);

    for (const variant of variants) {
      servers.push(
        await startServer(variant, schemaOf(variant), tokensOf.get(variant)!, admin, runId),
      );
    }
    for (const server of servers)
      await load(server.variant, server.port, server.tokens, config.warmup);
    const measured = new Map<Variant, { requests: number; seconds: number; latencies: number[] }>(
      variants.map((v) => [v, { requests: 0, seconds: 0, latencies: [] }]),
    );
    for (let round = 0; round < config.rounds; round++) {
      for (const server of servers) {
        const m = measured.get(server.variant)!;
        const result = await load(
          server.variant,
          server.port,
          server.tokens,
          roundSeconds,
          m.latencies,
        );
        m.requests += result.requests.total;
        m.seconds += result.duration;
      }
    }
    const results: VariantResult[] = [];
    for (const server of servers) {
      const app = await server.stop();
      const after = await settledCounters(admin, server.schema, server.appName);
      const m = measured.get(server.variant)!;
      const sorted = m.latencies.sort((x, y) => x - y);
      results.push({
        variant: server.variant,
        rps: m.requests / m.seconds,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        served: app.served,
        db: diff(after, server.before),
        app,
      });
    }
    printResults(results, skipped);
  } finally {
    for (const server of servers) server.kill();
    for (const variant of variants) {
      await admin.query(`DROP SCHEMA IF EXISTS "${schemaOf(variant)}" CASCADE`);
    }
    await admin.end();
  }
}
