import { migrations, quoteSchema } from '@authcache/pg';
import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  OperationalError,
  REDIS_OPTIONS,
  redisOptions,
} from '../command.js';
import { connectRedis, redisUrl, schemaOf, tableExists, withPool } from '../connect.js';
import { json, messageOf } from '../format.js';

/** `authcache status`: migrations, token counts, the invalidation log, Redis. */
export const status: Command = {
  name: 'status',
  summary: 'migrations, token counts, invalidation log, Redis',
  usage: `Usage: authcache status [--json]

Connects and prints the schema's migration state, token counts, the invalidation log's size
and, when a Redis URL is configured, whether Redis answers. Exits 1 when migrations are
pending or the configured Redis is unreachable.
  --json               print a JSON object

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: { ...connectionOptions, ...redisOptions, json: { type: 'boolean' } },
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
    let redis: { configured: boolean; reachable?: boolean; error?: string; pingMs?: number } = {
      configured: false,
    };
    const url = redisUrl(ctx);
    if (url !== undefined) {
      const started = performance.now();
      try {
        const client = await connectRedis(url);
        client.disconnect();
        redis = {
          configured: true,
          reachable: true,
          pingMs: Math.round(performance.now() - started),
        };
      } catch (error) {
        redis = {
          configured: true,
          reachable: false,
          error: messageOf(error).replace(/^Redis is unreachable: /, ''),
        };
      }
    }
    if (ctx.values.json) {
      ctx.io.stdout(json({ ...report, redis }));
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
              ? `reachable (${redis.pingMs} ms to connect and PING)`
              : `UNREACHABLE (${redis.error})`
        }`,
      ];
      ctx.io.stdout(`${lines.join('\n')}\n`);
    }
    const problems: string[] = [];
    if (report.migrations.pending.length > 0) {
      problems.push(
        `${report.migrations.pending.length} migration(s) pending: run 'authcache migrate'`,
      );
    }
    if (redis.configured && !redis.reachable) problems.push('Redis is unreachable');
    if (problems.length > 0) throw new OperationalError(problems.join('; '));
    return EXIT.ok;
  },
};
