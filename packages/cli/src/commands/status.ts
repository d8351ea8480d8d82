import { migrations, quoteSchema } from '@authcache/pg';
import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  OperationalError,
  REDIS_OPTIONS,
  redisOptions,
  str,
} from '../command.js';
import { connectRedis, redisUrl, schemaOf, tableExists, withPool } from '../connect.js';
import { json, messageOf } from '../format.js';
import { type VerifyReport, verifyTier } from '../verify.js';

/** `authcache status`: migrations, token counts, the invalidation log, Redis. */
export const status: Command = {
  name: 'status',
  summary: 'migrations, token counts, invalidation log, Redis',
  usage: `Usage: authcache status [--json] [--verify]

Connects and prints the schema's migration state, token counts, the invalidation log's size
and, when a Redis URL is configured, whether Redis answers, the Redis bus stream's length and
the scoped-invalidation epochs the tier keeps. Fast: no value is read or decrypted. Exits 1
when migrations are pending or the configured Redis is unreachable.
  --json               print a JSON object
  --verify             also read every Redis tier value (SCAN of the prefix), decode it and
                       check it against the store: exits 1 if any identity's token is revoked
                       or gone, or if the value outlives the token's expires_at

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: {
    ...connectionOptions,
    ...redisOptions,
    json: { type: 'boolean' },
    verify: { type: 'boolean' },
  },
  async run(ctx) {
    const schema = schemaOf(ctx);
    const s = quoteSchema(schema);
    const report = await withPool(ctx, async (pool) => {
      const exists = (table: string) => tableExists(pool, schema, table);
      const version = await pool.query<{ v: string }>(
        "SELECT current_setting('server_version') AS v",
      );
      let applied: string[] = [];
      if (await exists('authcache_migrations')) {
        const { rows } = await pool.query<{ id: string }>(
          `SELECT id FROM ${s}.authcache_migrations ORDER BY id`,
        );
        applied = rows.map((row) => row.id);
      }
      const pending = migrations.map((m) => m.id).filter((id) => !applied.includes(id));
      const tokens: Record<string, { live: number; revoked: number; expired: number } | null> = {};
      for (const [kind, table] of [
        ['pat', 'personal_access_token'],
        ['daemon', 'daemon_token'],
      ] as const) {
        if (!(await exists(table))) {
          tokens[kind] = null;
          continue;
        }
        const { rows } = await pool.query<{ live: string; revoked: string; expired: string }>(
          `SELECT
             count(*) FILTER (WHERE NOT revoked AND (expires_at IS NULL OR expires_at > now())) AS live,
             count(*) FILTER (WHERE revoked) AS revoked,
             count(*) FILTER (WHERE NOT revoked AND expires_at <= now()) AS expired
           FROM ${s}.${table}`,
        );
        const row = rows[0]!;
        tokens[kind] = {
          live: Number(row.live),
          revoked: Number(row.revoked),
          expired: Number(row.expired),
        };
      }
      let log: { rows: number; oldest: string | null } | null = null;
      if (await exists('authcache_invalidation')) {
        const { rows } = await pool.query<{ n: string; oldest: Date | null }>(
          `SELECT count(*) AS n, min(created_at) AS oldest FROM ${s}.authcache_invalidation`,
        );
        log = { rows: Number(rows[0]!.n), oldest: rows[0]!.oldest?.toISOString() ?? null };
      }
      return {
        database: { reachable: true, serverVersion: version.rows[0]?.v ?? 'unknown' },
        schema,
        migrations: { applied, pending },
        tokens,
        invalidationLog: log,
      };
    });
    let redis: {
      configured: boolean;
      reachable?: boolean;
      error?: string;
      pingMs?: number;
      streamLength?: number;
      scopeEpochs?: number;
    } = { configured: false };
    let verify: VerifyReport | undefined;
    const prefix = str(ctx, 'redis-prefix') ?? 'authcache:';
    const url = redisUrl(ctx);
    if (url === undefined && ctx.values.verify) {
      throw new OperationalError(
        '--verify reads the Redis tier: set REDIS_URL or pass --redis-url',
      );
    }
    if (url !== undefined) {
      const started = performance.now();
      let client: Awaited<ReturnType<typeof connectRedis>> | undefined;
      try {
        client = await connectRedis(url);
        const pingMs = Math.round(performance.now() - started);
        // Two O(1) counts: the bus stream's length and the tier's scope epochs.
        const [streamLength, scopeEpochs] = await Promise.all([
          client.xlen(str(ctx, 'redis-stream') ?? 'authcache:invalidations'),
          client.hlen(`${prefix}{scopes}`),
        ]);
        redis = { configured: true, reachable: true, pingMs, streamLength, scopeEpochs };
      } catch (error) {
        client?.disconnect();
        client = undefined;
        redis = {
          configured: true,
          reachable: false,
          error: messageOf(error).replace(/^Redis is unreachable: /, ''),
        };
      }
      if (client) {
        try {
          if (ctx.values.verify) {
            const reader = client;
            verify = await withPool(ctx, (pool) => verifyTier(reader, prefix, pool, schema));
          }
        } finally {
          client.disconnect();
        }
      }
    }
    if (ctx.values.json) {
      ctx.io.stdout(json({ ...report, redis, ...(verify ? { verify } : {}) }));
    } else {
      const counts = (kind: string) => {
        const c = report.tokens[kind];
        return c ? `${c.live} live, ${c.expired} expired, ${c.revoked} revoked` : 'table missing';
      };
      const lines = [
        `database:         reachable (PostgreSQL ${report.database.serverVersion})`,
        `schema:           ${schema}`,
        `migrations:       ${report.migrations.applied.length} applied, ${
          report.migrations.pending.length === 0
            ? 'up to date'
            : `${report.migrations.pending.length} pending (${report.migrations.pending.join(', ')})`
        }`,
        `pat tokens:       ${counts('pat')}`,
        `daemon tokens:    ${counts('daemon')}`,
        `invalidation log: ${
          report.invalidationLog
            ? `${report.invalidationLog.rows} rows${
                report.invalidationLog.oldest ? `, oldest ${report.invalidationLog.oldest}` : ''
              }`
            : 'table missing'
        }`,
        `redis:            ${
          !redis.configured
            ? 'not configured'
            : redis.reachable
              ? `reachable (${redis.pingMs} ms to connect and PING), bus stream ${redis.streamLength} entries, ${redis.scopeEpochs} scope epochs`
              : `UNREACHABLE (${redis.error})`
        }`,
      ];
      if (verify) {
        lines.push(
          `redis tier:       ${verify.scanned} values (${verify.identities} identities, ${verify.tombstones} tombstones, ${verify.unreadable} unreadable), ${verify.bad.length} bad`,
        );
        for (const entry of verify.bad) {
          const detail =
            entry.problem === 'outlives_expiry'
              ? ` (token expires ${entry.expiresAt}, value ${entry.valueExpiresAt})`
              : '';
          lines.push(`  BAD ${entry.kind} ${entry.tokenId}: ${entry.problem}${detail}`);
        }
      }
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    const problems: string[] = [];
    if (report.migrations.pending.length > 0) {
      problems.push(
        `${report.migrations.pending.length} migration(s) pending: run 'authcache migrate'`,
      );
    }
    if (redis.configured && !redis.reachable) problems.push('Redis is unreachable');
    if (verify && verify.bad.length > 0) {
      problems.push(
        `${verify.bad.length} bad Redis tier entr${verify.bad.length === 1 ? 'y' : 'ies'}`,
      );
    }
    if (problems.length > 0) throw new OperationalError(problems.join('; '));
    return EXIT.ok;
  },
};
