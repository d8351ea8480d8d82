import { parseArgs } from 'node:util';
import {
  type AuthCache,
  createAuthCache,
  defaultTokenKinds,
  type InvalidationBus,
  type Logger,
  type SharedTier,
} from '@authcache/core';
import {
  migrate,
  migrations,
  type PgTokenStore,
  pgBus,
  pgTokenStore,
  quoteSchema,
} from '@authcache/pg';
import { redisBus, redisTier } from '@authcache/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parseDuration } from './duration.js';

/** Where the CLI writes and what environment it reads; {@link run} defaults to the process's. */
export interface CliIo {
  /** Receives standard output (tokens, listings). Default: `process.stdout`. */
  stdout: (text: string) => void;
  /** Receives errors and notes; never a token or a secret. Default: `process.stderr`. */
  stderr: (text: string) => void;
  /**
   * Environment (`DATABASE_URL`, `REDIS_URL`, `AUTHCACHE_SCHEMA`, `AUTHCACHE_PEPPER`).
   * Default: `process.env`.
   */
  env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes of {@link run}. */
export const EXIT = Object.freeze({ ok: 0, error: 1, usage: 2 });

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

class OperationalError extends Error {}

const READY_TIMEOUT_MS = 15_000;

type OptionSpec = { type: 'string' | 'boolean'; short?: string };
type Values = Record<string, string | boolean | undefined>;

interface Context {
  readonly values: Values;
  readonly positionals: string[];
  readonly io: CliIo;
  readonly usage: string;
  /** Secrets to scrub from any error message (passwords of the URLs, the pepper, tokens). */
  readonly secrets: string[];
}

interface Command {
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly maxPositionals: number;
  run(ctx: Context): Promise<number>;
}

const CONNECTION_OPTIONS = `Connection:
  --database-url URL   Postgres URL (default: $DATABASE_URL; one of them is required)
  --schema S           schema of the authcache tables (default: $AUTHCACHE_SCHEMA or public)
  -h, --help           show this help`;

const REDIS_OPTIONS = `Redis (optional; announce on the Redis bus and tombstone the Redis tier too):
  --redis-url URL      Redis URL (default: $REDIS_URL; unset = Postgres only)
  --redis-prefix P     key prefix of the app's redisTier (default: authcache:)
  --redis-stream K     stream key of the app's redisBus (default: authcache:invalidations)`;

const MAIN_USAGE = `Usage: authcache <command> [options]

Commands:
  migrate                      create or update the authcache tables
  token create                 create a personal access token (prints it once)
  token create-daemon          create a daemon token (prints it once)
  token list                   list a user's (or a workspace's) tokens, without secrets
  token revoke <id>            revoke a token everywhere
  invalidate                   drop cached state for a token hash everywhere
  status                       migrations, token counts, invalidation log, Redis

Run 'authcache <command> --help' for a command's options.
Environment: DATABASE_URL, REDIS_URL, AUTHCACHE_SCHEMA, and AUTHCACHE_PEPPER (the store's
hash pepper, if the app uses one; never pass secrets as arguments).
Exit codes: 0 ok, 1 operational error, 2 usage error.`;

const TOKEN_USAGE = `Usage: authcache token <create|create-daemon|list|revoke> [options]

Run 'authcache token <subcommand> --help' for its options.`;

const common: Record<string, OptionSpec> = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
const redisOptions: Record<string, OptionSpec> = {
  'redis-url': { type: 'string' },
  'redis-prefix': { type: 'string' },
  'redis-stream': { type: 'string' },
};

// ---------------------------------------------------------------------------------------------
// Helpers

function str(ctx: Context, name: string): string | undefined {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(ctx: Context, name: string): string {
  const value = str(ctx, name);
  if (value === undefined || value.trim() === '') {
    throw new UsageError(`--${name} is required`, ctx.usage);
  }
  return value;
}

function schemaOf(ctx: Context): string {
  const schema = str(ctx, 'schema') ?? (ctx.io.env.AUTHCACHE_SCHEMA || 'public');
  try {
    quoteSchema(schema);
  } catch {
    throw new UsageError(`--schema "${schema}" is not a valid schema name`, ctx.usage);
  }
  return schema;
}

function passwordOf(url: string): string | undefined {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password === '' ? undefined : password;
  } catch {
    return undefined;
  }
}

function databaseUrl(ctx: Context): string {
  const url = str(ctx, 'database-url') ?? ctx.io.env.DATABASE_URL;
  if (url === undefined || url.trim() === '') {
    throw new OperationalError(
      'no database configured: set the DATABASE_URL environment variable or pass --database-url',
    );
  }
  const password = passwordOf(url);
  if (password) ctx.secrets.push(password, url);
  return url;
}

function redisUrl(ctx: Context): string | undefined {
  const url = str(ctx, 'redis-url') ?? ctx.io.env.REDIS_URL;
  if (url === undefined || url.trim() === '') return undefined;
  const password = passwordOf(url);
  if (password) ctx.secrets.push(password, url);
  return url;
}

function pepper(ctx: Context): string | undefined {
  const value = ctx.io.env.AUTHCACHE_PEPPER;
  if (value === undefined || value === '') return undefined;
  ctx.secrets.push(value);
  return value;
}

async function withPool<T>(ctx: Context, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({
    connectionString: databaseUrl(ctx),
    max: 3,
    application_name: 'authcache-cli',
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection emits on the pool; queries still report their errors.
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
    return await fn(pool);
  } finally {
    await pool.end().catch(() => {});
  }
}

function storeFor(ctx: Context, pool: pg.Pool): PgTokenStore {
  return pgTokenStore({ db: pool, schema: schemaOf(ctx), pepper: pepper(ctx) });
}

async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => (times > 3 ? null : 100),
  });
  let lastError: unknown;
  redis.on('error', (error) => {
    lastError = error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    // "Connection is closed" says less than the socket error that closed it.
    throw new OperationalError(`Redis is unreachable: ${messageOf(lastError ?? error)}`);
  }
  return redis;
}

/**
 * Runs `fn` with a short-lived auth cache over the store: buses `pgBus` (when `withPgBus`) and,
 * with a Redis URL, `redisBus` plus `redisTier`. A failed shared-tier write or publish is an
 * error: the caller must know that some instances may not have heard of the change.
 */

/** Whether `schema.table` exists (a migration created it). */
async function tableExists(pool: pg.Pool, schema: string, table: string): Promise<boolean> {
  const { rows } = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
    `${quoteSchema(schema)}.${table}`,
  ]);
  return rows[0]?.t != null;
}

async function withAuth<T>(
  ctx: Context,
  pool: pg.Pool,
  withPgBus: boolean,
  fn: (auth: AuthCache) => Promise<T>,
): Promise<T> {
  const failures: string[] = [];
  const logger: Logger = {
    warn(message, details) {
      const detail = typeof details?.error === 'string' ? `: ${details.error}` : '';
      if (/publishing|shared tier/.test(message)) failures.push(`${message}${detail}`);
    },
  };
  const schema = schemaOf(ctx);
  if (!(await tableExists(pool, schema, 'authcache_invalidation'))) {
    throw new OperationalError(`schema ${schema} is not migrated: run 'authcache migrate'`);
  }
  const buses: InvalidationBus[] = [];
  if (withPgBus) {
    buses.push(
      pgBus({ pool, schema, logger, pruneIntervalMs: 0, applicationName: 'authcache-cli-bus' }),
    );
  }
  let redis: Redis | undefined;
  let tier: SharedTier | undefined;
  const url = redisUrl(ctx);
  if (url !== undefined) {
    redis = await connectRedis(url);
    tier = redisTier({
      redis,
      prefix: str(ctx, 'redis-prefix') ?? 'authcache:',
      timeoutMs: 2_000,
      breaker: false,
    });
    buses.push(
      redisBus({
        redis,
        stream: str(ctx, 'redis-stream') ?? 'authcache:invalidations',
        logger,
        maxPending: 0,
        publishTimeoutMs: 2_000,
        connectionName: 'authcache-cli-bus',
      }),
    );
  }
  const auth = createAuthCache({ store: storeFor(ctx, pool), tier, bus: buses, logger });
  let timer: NodeJS.Timeout | undefined;
  try {
    // Buses retry their subscription forever (right for an app, wrong for a command).
    await Promise.race([
      auth.ready(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new OperationalError('the invalidation buses did not come up within 15 s')),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
    const result = await fn(auth);
    if (failures.length > 0) {
      throw new OperationalError(
        `the store was updated, but not every instance may have heard of it: ${failures.join('; ')}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
    await auth.close().catch(() => {});
    redis?.disconnect();
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const aggregate = (error as { errors?: unknown }).errors;
    if (error.message === '' && Array.isArray(aggregate) && aggregate.length > 0) {
      return aggregate.map(messageOf).join('; ');
    }
    return error.message || error.name;
  }
  return String(error);
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const TOKEN_RE = new RegExp(
  `(?:${Object.values(defaultTokenKinds)
    .map((spec) => escapeRe(spec.prefix))
    .join('|')})[A-Za-z0-9_-]+`,
  'g',
);

/** The message with every known secret and anything shaped like a token replaced. */
function redact(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0) out = out.split(secret).join('[redacted]');
  }
  return out.replace(TOKEN_RE, '[redacted]');
}

function date(value: Date | null): string {
  return value === null ? 'never' : value.toISOString();
}

function expiry(ctx: Context): Date | null {
  const text = str(ctx, 'expires-in');
  if (text === undefined) return null;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(
      `--expires-in "${text}" is not a duration such as 3600s, 15m, 12h, 30d or 2w`,
      ctx.usage,
    );
  }
  return new Date(Date.now() + ms);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Commands

const migrateCommand: Command = {
  usage: `Usage: authcache migrate [--schema S] [--database-url URL]

Creates the schema (if missing) and applies pending migrations. Idempotent, safe to run from
several machines at once (an advisory lock serialises them).

${CONNECTION_OPTIONS}`,
  options: { ...common },
  maxPositionals: 0,
  async run(ctx) {
    const schema = schemaOf(ctx);
    const result = await withPool(ctx, (pool) => migrate(pool, { schema }));
    ctx.io.stdout(
      result.applied.length === 0
        ? `schema ${schema} is up to date\n`
        : `applied to schema ${schema}: ${result.applied.join(', ')}\n`,
    );
    return EXIT.ok;
  },
};

const CREATED_NOTE = 'Store this token now: it is shown only once and cannot be recovered.\n';

function printCreated(
  ctx: Context,
  created: { id: string; token: string; tokenPrefix: string; expiresAt: Date | null },
) {
  ctx.secrets.push(created.token);
  if (ctx.values.json) {
    ctx.io.stdout(
      json({
        id: created.id,
        token: created.token,
        tokenPrefix: created.tokenPrefix,
        expiresAt: created.expiresAt?.toISOString() ?? null,
      }),
    );
  } else {
    ctx.io.stdout(
      `id:      ${created.id}\ntoken:   ${created.token}\nexpires: ${date(created.expiresAt)}\n`,
    );
  }
  ctx.io.stderr(CREATED_NOTE);
}

const tokenCreate: Command = {
  usage: `Usage: authcache token create --user U --name N [--scopes a,b] [--expires-in 30d] [--json]

Creates a personal access token and prints its id and the token itself, once, on stdout.
  --user U             owner (user id)
  --name N             display name
  --scopes a,b         comma-separated scopes (default: none)
  --expires-in D       lifetime: 3600s, 15m, 12h, 30d, 2w (default: never expires)
  --json               print {"id","token","tokenPrefix","expiresAt"}

${CONNECTION_OPTIONS}`,
  options: {
    ...common,
    user: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'string' },
    'expires-in': { type: 'string' },
    json: { type: 'boolean' },
  },
  maxPositionals: 0,
  async run(ctx) {
    const userId = required(ctx, 'user');
    const name = required(ctx, 'name');
    const scopes = (str(ctx, 'scopes') ?? '')
      .split(',')
      .map((scope) => scope.trim())
      .filter((scope) => scope !== '');
    const expiresAt = expiry(ctx);
    const created = await withPool(ctx, (pool) =>
      storeFor(ctx, pool).createPat({ userId, name, scopes, expiresAt }),
    );
    printCreated(ctx, created);
    return EXIT.ok;
  },
};

const tokenCreateDaemon: Command = {
  usage: `Usage: authcache token create-daemon --workspace W --daemon D [--expires-in 30d] [--json]

Creates a daemon token and prints its id and the token itself, once, on stdout.
  --workspace W        workspace id
  --daemon D           daemon id
  --expires-in D       lifetime: 3600s, 15m, 12h, 30d, 2w (default: never expires)
  --json               print {"id","token","tokenPrefix","expiresAt"}

${CONNECTION_OPTIONS}`,
  options: {
    ...common,
    workspace: { type: 'string' },
    daemon: { type: 'string' },
    'expires-in': { type: 'string' },
    json: { type: 'boolean' },
  },
  maxPositionals: 0,
  async run(ctx) {
    const workspaceId = required(ctx, 'workspace');
    const daemonId = required(ctx, 'daemon');
    const expiresAt = expiry(ctx);
    const created = await withPool(ctx, (pool) =>
      storeFor(ctx, pool).createDaemonToken({ workspaceId, daemonId, expiresAt }),
    );
    printCreated(ctx, created);
    return EXIT.ok;
  },
};

const tokenList: Command = {
  usage: `Usage: authcache token list (--user U | --workspace W) [--all] [--json]

Lists a user's personal access tokens (or a workspace's daemon tokens), newest first. Shows
ids, names and display prefixes; never a token or a hash.
  --user U             list this user's personal access tokens
  --workspace W        list this workspace's daemon tokens
  --all                include revoked tokens
  --json               print a JSON array

${CONNECTION_OPTIONS}`,
  options: {
    ...common,
    user: { type: 'string' },
    workspace: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  maxPositionals: 0,
  async run(ctx) {
    const user = str(ctx, 'user');
    const workspace = str(ctx, 'workspace');
    if ((user === undefined) === (workspace === undefined)) {
      throw new UsageError('pass exactly one of --user and --workspace', ctx.usage);
    }
    const includeRevoked = ctx.values.all === true;
    const asJson = ctx.values.json === true;
    const out = await withPool(ctx, async (pool) => {
      const store = storeFor(ctx, pool);
      if (user !== undefined) {
        const pats = await store.listPats(user, { includeRevoked });
        // Listed field by field, so nothing the store may add later leaks out.
        const rows = pats.map((pat) => ({
          id: pat.id,
          kind: 'pat',
          name: pat.name,
          tokenPrefix: pat.tokenPrefix,
          scopes: [...pat.scopes],
          expiresAt: pat.expiresAt?.toISOString() ?? null,
          lastUsedAt: pat.lastUsedAt?.toISOString() ?? null,
          createdAt: pat.createdAt.toISOString(),
          revoked: pat.revoked,
        }));
        if (asJson) return json(rows);
        if (rows.length === 0) return `no tokens for user ${user}\n`;
        return `${table([
          ['ID', 'NAME', 'PREFIX', 'SCOPES', 'EXPIRES', 'LAST USED', 'CREATED', 'REVOKED'],
          ...rows.map((row) => [
            row.id,
            row.name,
            `${row.tokenPrefix}…`,
            row.scopes.join(',') || '-',
            row.expiresAt ?? 'never',
            row.lastUsedAt ?? 'never',
            row.createdAt,
            row.revoked ? 'yes' : 'no',
          ]),
        ])}\n`;
      }
      const daemons = await store.listDaemonTokens(workspace!, { includeRevoked });
      const rows = daemons.map((token) => ({
        id: token.id,
        kind: 'daemon',
        workspaceId: token.workspaceId,
        daemonId: token.daemonId,
        expiresAt: token.expiresAt?.toISOString() ?? null,
        lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
        createdAt: token.createdAt.toISOString(),
        revoked: token.revoked,
      }));
      if (asJson) return json(rows);
      if (rows.length === 0) return `no daemon tokens for workspace ${workspace}\n`;
      return `${table([
        ['ID', 'DAEMON', 'EXPIRES', 'LAST USED', 'CREATED', 'REVOKED'],
        ...rows.map((row) => [
          row.id,
          row.daemonId,
          row.expiresAt ?? 'never',
          row.lastUsedAt ?? 'never',
          row.createdAt,
          row.revoked ? 'yes' : 'no',
        ]),
      ])}\n`;
    });
    ctx.io.stdout(out);
    return EXIT.ok;
  },
};

const KINDS = ['pat', 'daemon'] as const;

const tokenRevoke: Command = {
  usage: `Usage: authcache token revoke <id> [--kind pat|daemon]

Revokes the token in the store. The store's triggers log it and pgBus delivers it to every
running instance; with a Redis URL the CLI also tombstones the Redis tier and publishes on the
Redis bus.
  --kind K             pat or daemon (default: whichever has a live token with this id)

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: { ...common, ...redisOptions, kind: { type: 'string' } },
  maxPositionals: 1,
  async run(ctx) {
    const id = ctx.positionals[0];
    if (id === undefined || id.trim() === '') {
      throw new UsageError('the token id is required', ctx.usage);
    }
    const kind = str(ctx, 'kind');
    if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--kind must be one of ${KINDS.join(', ')}`, ctx.usage);
    }
    const kinds = kind === undefined ? KINDS : [kind];
    const revoked = await withPool(ctx, (pool) =>
      withAuth(ctx, pool, false, async (auth) => {
        for (const candidate of kinds) {
          if (await auth.revoke(candidate, id)) return candidate;
        }
        return undefined;
      }),
    );
    if (revoked === undefined) {
      throw new OperationalError(
        `no live ${kind ?? 'pat or daemon'} token has the id ${id} (unknown or already revoked)`,
      );
    }
    ctx.io.stdout(`revoked ${revoked} ${id}\n`);
    return EXIT.ok;
  },
};

const invalidateCommand: Command = {
  usage: `Usage: authcache invalidate --kind K --hash H

Drops every instance's cached state for one token hash (e.g. after editing a row by hand); the
next resolve asks the store. Announced on pgBus (the invalidation log) and, with a Redis URL,
on the Redis bus after clearing the Redis tier.
  --kind K             token kind (pat, daemon, sigv4, …)
  --hash H             the token hash (the token_hash column)

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: { ...common, ...redisOptions, kind: { type: 'string' }, hash: { type: 'string' } },
  maxPositionals: 0,
  async run(ctx) {
    const kind = required(ctx, 'kind');
    const hash = required(ctx, 'hash');
    if (/\s/.test(kind) || /\s/.test(hash)) {
      throw new UsageError('--kind and --hash cannot contain spaces', ctx.usage);
    }
    await withPool(ctx, (pool) => withAuth(ctx, pool, true, (auth) => auth.invalidate(kind, hash)));
    ctx.io.stdout(`invalidated ${kind} ${hash}\n`);
    return EXIT.ok;
  },
};

const statusCommand: Command = {
  usage: `Usage: authcache status [--json]

Connects and prints the schema's migration state, token counts, the invalidation log's size
and, when a Redis URL is configured, whether Redis answers. Exits 1 when migrations are
pending or the configured Redis is unreachable.
  --json               print a JSON object

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: { ...common, ...redisOptions, json: { type: 'boolean' } },
  maxPositionals: 0,
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

const COMMANDS: Readonly<Record<string, Command>> = {
  migrate: migrateCommand,
  'token create': tokenCreate,
  'token create-daemon': tokenCreateDaemon,
  'token list': tokenList,
  'token revoke': tokenRevoke,
  invalidate: invalidateCommand,
  status: statusCommand,
};

const defaultIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});

/**
 * Runs the `authcache` command line (`argv` without `node` and the script) and returns the
 * exit code: 0 ok, 1 operational error (message on stderr), 2 usage error (usage on stderr).
 * Never throws; error messages never contain a token, the pepper or a URL's password.
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const cli: CliIo = { ...defaultIo(), ...io };
  const secrets: string[] = [];
  const [first, second] = argv;
  let name: string | undefined;
  let rest: string[];
  if (first === undefined) {
    cli.stderr(`${MAIN_USAGE}\n`);
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    cli.stdout(`${MAIN_USAGE}\n`);
    return EXIT.ok;
  }
  if (first === 'token') {
    if (second === undefined || second.startsWith('-')) {
      const help = second === '--help' || second === '-h';
      (help ? cli.stdout : cli.stderr)(`${TOKEN_USAGE}\n`);
      return help ? EXIT.ok : EXIT.usage;
    }
    name = `token ${second}`;
    rest = argv.slice(2);
  } else {
    name = first;
    rest = argv.slice(1);
  }
  const command = COMMANDS[name];
  if (!command) {
    cli.stderr(
      `authcache: unknown command '${name}'\n\n${first === 'token' ? TOKEN_USAGE : MAIN_USAGE}\n`,
    );
    return EXIT.usage;
  }
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({
        args: rest,
        options: command.options,
        allowPositionals: true,
        strict: true,
      }) as { values: Values; positionals: string[] };
    } catch (error) {
      throw new UsageError(messageOf(error), command.usage);
    }
    if (parsed.values.help) {
      cli.stdout(`${command.usage}\n`);
      return EXIT.ok;
    }
    if (parsed.positionals.length > command.maxPositionals) {
      throw new UsageError(
        `unexpected argument '${parsed.positionals[command.maxPositionals]}'`,
        command.usage,
      );
    }
    return await command.run({
      values: parsed.values,
      positionals: parsed.positionals,
      io: cli,
      usage: command.usage,
      secrets,
    });
  } catch (error) {
    if (error instanceof UsageError) {
      cli.stderr(`authcache ${name}: ${redact(error.message, secrets)}\n\n${error.usage}\n`);
      return EXIT.usage;
    }
    cli.stderr(`authcache ${name}: ${redact(messageOf(error), secrets)}\n`);
    return EXIT.error;
  }
}
