/** Connections: settings from flags and environment, the Postgres pool, Redis, the auth cache. */
import {
  type AuthCache,
  createAuthCache,
  type InvalidationBus,
  type Logger,
  type SharedTier,
} from '@authcache/core';
import { createPgBus, createPgTokenStore, type PgTokenStore, quoteSchema } from '@authcache/pg';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type Context, OperationalError, str, UsageError } from './command.js';
import { messageOf } from './format.js';
import { passwordOf } from './redact.js';

const READY_TIMEOUT_MS = 15_000;

/** Postgres error codes of a missing table or schema: the schema was not migrated. */
const UNMIGRATED_CODES = new Set(['42P01', '3F000']);

/**
 * The schema of the authcache tables: `--schema`, else `AUTHCACHE_SCHEMA`, else `public`. An
 * invalid name is a usage error that names where it came from (the flag or the variable).
 */
export function schemaOf(ctx: Context): string {
  const flag = str(ctx, 'schema');
  const env = ctx.io.env.AUTHCACHE_SCHEMA;
  if (flag !== undefined) return checkSchema(flag, '--schema', true);
  if (env !== undefined && env !== '') {
    return checkSchema(env, 'the AUTHCACHE_SCHEMA environment variable', false);
  }
  return 'public';
}

function checkSchema(schema: string, source: string, showUsage: boolean): string {
  try {
    quoteSchema(schema);
  } catch {
    throw new UsageError(
      `${source} is "${schema}", which is not a valid schema name (letters, digits and _, at most 63, not starting with a digit)`,
      showUsage,
    );
  }
  return schema;
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

/** `--redis-url` or `REDIS_URL`; `undefined` when neither is set (Postgres only). */
export function redisUrl(ctx: Context): string | undefined {
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

/**
 * Runs `fn` with a small pool, checked with `SELECT 1` first. A query on a table that does not
 * exist becomes "schema S is not migrated: run 'authcache migrate'", whichever command ran it.
 */
export async function withPool<T>(ctx: Context, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const schema = schemaOf(ctx);
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
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && UNMIGRATED_CODES.has(code)) throw notMigrated(schema);
    throw error;
  } finally {
    await pool.end().catch(() => {});
  }
}

function notMigrated(schema: string): OperationalError {
  return new OperationalError(`schema ${schema} is not migrated: run 'authcache migrate'`);
}

/** The token store the apps use, with the CLI's schema and pepper. */
export function storeFor(ctx: Context, pool: pg.Pool): PgTokenStore {
  return createPgTokenStore({ db: pool, schema: schemaOf(ctx), pepper: pepper(ctx) });
}

/** Whether `schema.table` exists (a migration created it). */
export async function tableExists(pool: pg.Pool, schema: string, table: string): Promise<boolean> {
  const { rows } = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
    `${quoteSchema(schema)}.${table}`,
  ]);
  return rows[0]?.t != null;
}

/** A connected Redis client (PING answered), or an `OperationalError` saying why not. */
export async function connectRedis(url: string): Promise<Redis> {
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
 * Runs `fn` with a short-lived auth cache over the store: buses `createPgBus` (when `withPgBus`) and,
 * with a Redis URL, `createRedisBus` plus `createRedisTier`. A failed shared-tier write or publish is an
 * error: the caller must know that some instances may not have heard of the change.
 */
export async function withAuth<T>(
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
  // Checked first: the buses would retry a missing log table forever.
  if (!(await tableExists(pool, schema, 'authcache_invalidation'))) throw notMigrated(schema);
  const buses: InvalidationBus[] = [];
  if (withPgBus) {
    buses.push(
      createPgBus({
        pool,
        schema,
        logger,
        pruneIntervalMs: 0,
        applicationName: 'authcache-cli-bus',
      }),
    );
  }
  let redis: Redis | undefined;
  let tier: SharedTier | undefined;
  const url = redisUrl(ctx);
  if (url !== undefined) {
    redis = await connectRedis(url);
    tier = createRedisTier({
      redis,
      prefix: str(ctx, 'redis-prefix') ?? 'authcache:',
      timeoutMs: 2_000,
      breaker: false,
    });
    buses.push(
      createRedisBus({
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
