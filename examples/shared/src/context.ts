import {
  type AuthCache,
  type AuthCacheOptions,
  createAuthCache,
  type InvalidationBus,
  type SharedTier,
} from '@authcache/core';
import { createEmbeddedDb, migrate, type PgTokenStore, pgBus, pgTokenStore } from '@authcache/pg';
import { redisBus, redisTier } from '@authcache/redis';
import { Redis } from 'ioredis';
import pg from 'pg';

/** Environment variables the examples read. */
export interface ExampleEnv {
  /** Postgres connection string; unset = embedded PGlite in memory. */
  DATABASE_URL?: string;
  /** Schema for the tables on `DATABASE_URL`. Default: `public`. */
  DATABASE_SCHEMA?: string;
  /** Redis connection string: adds the shared tier and the Redis invalidation bus. */
  REDIS_URL?: string;
  /** Prefix of every Redis key (and of the bus stream). Default: `authcache:`. */
  REDIS_PREFIX?: string;
  /** A valid `mul_…` token inserted at startup for user `demo`. */
  SEED_PAT?: string;
  /** A valid `mdt_…` token inserted at startup for workspace `demo`, daemon `demo`. */
  SEED_DAEMON_TOKEN?: string;
  [name: string]: string | undefined;
}

/** Options of {@link createExampleContext}. */
export interface ExampleContextOptions {
  /** Default: `process.env`. */
  env?: ExampleEnv;
  /** Extra auth cache options (e.g. `ttl`). Default: the auth cache's defaults. */
  authOptions?: Omit<AuthCacheOptions, 'store'>;
}

/** Everything an example app needs, created once. */
export interface ExampleContext {
  readonly auth: AuthCache;
  readonly store: PgTokenStore;
  /** Where tokens live. */
  readonly database: 'pglite' | 'postgres';
  /** The shared cache tier between the in-process LRU and the store. */
  readonly sharedTier: 'redis' | 'none';
  /** Buses that carry revocations between instances. */
  readonly buses: readonly ('postgres' | 'redis')[];
  /** Flushes touches and closes the auth cache and the database. */
  close(): Promise<void>;
}

/** The user, workspace and daemon that `SEED_PAT` / `SEED_DAEMON_TOKEN` belong to. */
export const SEED_USER = 'demo';
export const SEED_WORKSPACE = 'demo';
export const SEED_DAEMON = 'demo';

/**
 * Creates the store (PGlite by default, Postgres on `DATABASE_URL`), migrates it, builds the auth
 * cache over it and seeds `SEED_PAT` / `SEED_DAEMON_TOKEN`.
 */
export async function createExampleContext(
  options: ExampleContextOptions = {},
): Promise<ExampleContext> {
  const env = options.env ?? (process.env as ExampleEnv);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    let store: PgTokenStore;
    let database: ExampleContext['database'];
    let tier: SharedTier | undefined;
    const buses: InvalidationBus[] = [];
    const busNames: ExampleContext['buses'][number][] = [];
    if (env.DATABASE_URL) {
      const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 10 });
      // An idle client that loses its connection must not crash the app; queries still fail (503).
      pool.on('error', () => {});
      closers.push(() => pool.end());
      const schema = env.DATABASE_SCHEMA || 'public';
      await migrate(pool, { schema });
      store = pgTokenStore({ db: pool, schema });
      database = 'postgres';
      // Revocations by other instances, or by SQL straight in the database, reach this one.
      buses.push(pgBus({ pool, schema }));
      busNames.push('postgres');
    } else {
      const db = await createEmbeddedDb();
      closers.push(() => db.close());
      await migrate(db);
      store = pgTokenStore({ db });
      database = 'pglite';
    }
    if (env.REDIS_URL) {
      // Fail fast during an outage instead of queueing: the tier then answers a miss in time.
      const redis = new Redis(env.REDIS_URL, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 1_000,
        lazyConnect: true,
      });
      redis.on('error', () => {});
      await redis.connect();
      closers.push(() => redis.quit());
      const prefix = env.REDIS_PREFIX || 'authcache:';
      tier = redisTier({ redis, prefix });
      buses.push(redisBus({ redis, stream: `${prefix}invalidations` }));
      busNames.push('redis');
    }
    const auth = createAuthCache({ ...options.authOptions, store, tier, bus: buses });
    closers.unshift(() => auth.close());
    await auth.ready();
    await seed(store, env);
    return {
      auth,
      store,
      database,
      sharedTier: tier ? 'redis' : 'none',
      buses: busNames,
      async close() {
        for (const close of closers.splice(0)) await close();
      },
    };
  } catch (error) {
    for (const close of closers.splice(0)) await close().catch(() => {});
    throw error;
  }
}

/** Inserts the seed tokens unless they are already there (a persistent database restarted). */
async function seed(store: PgTokenStore, env: ExampleEnv): Promise<void> {
  if (env.SEED_PAT) {
    const token = env.SEED_PAT;
    if (!(await store.findByHash('pat', store.hashToken(token)))) {
      await store
        .createPat({ userId: SEED_USER, name: 'seed', token })
        .catch(seedFailed('SEED_PAT'));
    }
  }
  if (env.SEED_DAEMON_TOKEN) {
    const token = env.SEED_DAEMON_TOKEN;
    if (!(await store.findByHash('daemon', store.hashToken(token)))) {
      await store
        .createDaemonToken({ workspaceId: SEED_WORKSPACE, daemonId: SEED_DAEMON, token })
        .catch(seedFailed('SEED_DAEMON_TOKEN'));
    }
  }
}

function seedFailed(variable: string) {
  return (error: unknown): never => {
    // The message names the variable, never its value: the value is a secret.
    const reason =
      error instanceof TypeError ? 'it is not a valid token' : 'it was revoked or expired';
    throw new Error(`${variable} could not be seeded: ${reason}`, { cause: error });
  };
}
