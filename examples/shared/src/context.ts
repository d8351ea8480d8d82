import {
  type AuthCache,
  type AuthCacheOptions,
  createAuthCache,
  type InvalidationBus,
  type SharedTier,
} from '@authcache/core';
import {
  createPgAccessKeyStore,
  createPgBus,
  createPgTokenStore,
  migrate,
  type PgAccessKeyStore,
  type PgTokenStore,
} from '@authcache/pg';
import { createEmbeddedDb } from '@authcache/pg/embedded';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import {
  type AccessKeys,
  type CachedSigV4VerifierOptions,
  createAccessKeys,
  type SecretSealer,
  withAccessKeys,
} from '@authcache/sigv4';
import { Redis } from 'ioredis';
import pg from 'pg';
import { accessKeyKeyring, parseSeedAccessKey, seedAccessKey } from './access-keys.js';
import { createS3Bucket, S3_REGION, S3_SERVICE, type S3Bucket } from './s3.js';

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
  /**
   * `<access key id>:<secret>`: a long-lived SigV4 access key for user `demo`, created at startup
   * unless it already exists with that secret. The id is `AKIA` + 16 base32 characters, the
   * secret 16 characters or more.
   */
  SEED_ACCESS_KEY?: string;
  /**
   * 32 bytes, base64: seals access-key secrets at rest (AES-256-GCM). Required with
   * `DATABASE_URL`; unset in the embedded mode, a random key is generated at start (the in-memory
   * database disappears with the process anyway).
   */
  ACCESS_KEY_ENCRYPTION_KEY?: string;
  /**
   * Comma-separated subjects allowed into the admin API and console at `/admin`. Default: the
   * seeded demo user (`demo`).
   */
  ADMIN_SUBJECTS?: string;
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
  /** Resolves PATs, daemon tokens and (kind `sigv4`) access keys. */
  readonly auth: AuthCache;
  readonly store: PgTokenStore;
  readonly accessKeyStore: PgAccessKeyStore;
  /** Issues and revokes SigV4 access keys (secrets sealed with {@link keyring}). */
  readonly accessKeys: AccessKeys;
  readonly keyring: SecretSealer;
  /** Options for each adapter's `sigv4Auth` on `/s3`: service `s3`, region `us-east-1`. */
  readonly s3Auth: CachedSigV4VerifierOptions;
  /** The in-memory bucket behind `/s3`. */
  readonly s3: S3Bucket;
  /** Where the access-key encryption key came from. */
  readonly encryptionKey: 'env' | 'generated';
  /** The seeded access key's id (`SEED_ACCESS_KEY`), never its secret. */
  readonly seededAccessKeyId: string | null;
  /** Subjects admitted to `/admin` (`ADMIN_SUBJECTS`, default the seeded demo user). */
  readonly adminSubjects: readonly string[];
  /** Where tokens live. */
  readonly database: 'pglite' | 'postgres';
  /** The shared cache tier between the in-process LRU and the store. */
  readonly sharedTier: 'redis' | 'none';
  /** Buses that carry revocations between instances. */
  readonly buses: readonly ('postgres' | 'redis')[];
  /** Flushes touches and closes the auth cache and the database. */
  close(): Promise<void>;
}

/** How long the examples wait for a Postgres connection (ms). */
export const PG_CONNECT_TIMEOUT_MS = 2_000;
/** Server-side `statement_timeout` of the examples' pool (ms). */
export const PG_STATEMENT_TIMEOUT_MS = 5_000;
/** Client-side `query_timeout` of the examples' pool (ms): a reply that never comes. */
export const PG_QUERY_TIMEOUT_MS = 6_000;

/** The user, workspace and daemon that `SEED_PAT` / `SEED_DAEMON_TOKEN` (and `SEED_ACCESS_KEY`) belong to. */
export const SEED_USER = 'demo';
export const SEED_WORKSPACE = 'demo';
export const SEED_DAEMON = 'demo';

/**
 * Creates the store (PGlite by default, Postgres on `DATABASE_URL`), migrates it, builds the auth
 * cache over it (tokens and SigV4 access keys) and seeds `SEED_PAT` / `SEED_DAEMON_TOKEN` /
 * `SEED_ACCESS_KEY`.
 */
export async function createExampleContext(
  options: ExampleContextOptions = {},
): Promise<ExampleContext> {
  const env = options.env ?? (process.env as ExampleEnv);
  // Configuration errors first, before anything is opened; they name variables, never values.
  const seedKey = parseSeedAccessKey(env.SEED_ACCESS_KEY);
  const { keyring, source: encryptionKey } = accessKeyKeyring(env);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    let store: PgTokenStore;
    let accessKeyStore: PgAccessKeyStore;
    let database: ExampleContext['database'];
    let tier: SharedTier | undefined;
    const buses: InvalidationBus[] = [];
    const busNames: ExampleContext['buses'][number][] = [];
    if (env.DATABASE_URL) {
      const schema = env.DATABASE_SCHEMA || 'public';
      // Migrations run on a connection of their own, without the request timeouts below: waiting
      // for another instance's migration lock, or a long migration, is fine at startup.
      const migrator = new pg.Client({
        connectionString: env.DATABASE_URL,
        connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
      });
      migrator.on('error', () => {});
      try {
        await migrator.connect();
        await migrate(migrator, { schema });
      } finally {
        await migrator.end().catch(() => {});
      }
      const pool = new pg.Pool({
        connectionString: env.DATABASE_URL,
        max: 10,
        // A Postgres that stops answering (a black-holed network, a dead host without RST) must
        // turn into errors, and so into 503 + Retry-After, within seconds: without these a cold
        // request waits for a connection or a reply forever. The server-side statement_timeout
        // ends slow queries cleanly; query_timeout, a bit longer, is the client's own deadline
        // for when the server cannot be reached to say so.
        connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
        statement_timeout: PG_STATEMENT_TIMEOUT_MS,
        query_timeout: PG_QUERY_TIMEOUT_MS,
      });
      // An idle client that loses its connection must not crash the app; queries still fail (503).
      pool.on('error', () => {});
      closers.push(() => pool.end());
      store = createPgTokenStore({ db: pool, schema });
      accessKeyStore = createPgAccessKeyStore({ db: pool, schema });
      database = 'postgres';
      // Revocations by other instances, or by SQL straight in the database, reach this one.
      buses.push(createPgBus({ pool, schema }));
      busNames.push('postgres');
    } else {
      const db = await createEmbeddedDb();
      closers.push(() => db.close());
      await migrate(db);
      store = createPgTokenStore({ db });
      accessKeyStore = createPgAccessKeyStore({ db });
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
      // Registered before connecting: a failed connect still has to stop the reconnect loop. `quit`
      // rejects without disconnecting when Redis is down (no offline queue), so disconnect then.
      closers.push(() => redis.quit().catch(() => redis.disconnect()));
      await redis.connect();
      const prefix = env.REDIS_PREFIX || 'authcache:';
      tier = createRedisTier({ redis, prefix });
      buses.push(createRedisBus({ redis, stream: `${prefix}invalidations` }));
      busNames.push('redis');
    }
    const auth = createAuthCache({
      ...options.authOptions,
      // One store for the cache: access keys (kind `sigv4`) by id, tokens by hash.
      store: withAccessKeys(store, accessKeyStore),
      tier,
      bus: buses,
    });
    closers.unshift(() => auth.close());
    await auth.ready();
    await seedTokens(store, env);
    const accessKeys = createAccessKeys({ store: accessKeyStore, keyring, auth });
    if (seedKey) await seedAccessKey({ accessKeys, accessKeyStore, keyring }, seedKey, SEED_USER);
    return {
      auth,
      store,
      accessKeyStore,
      accessKeys,
      keyring,
      s3Auth: { auth, keyring, service: S3_SERVICE, region: S3_REGION },
      s3: createS3Bucket(),
      encryptionKey,
      seededAccessKeyId: seedKey?.accessKeyId ?? null,
      adminSubjects: adminSubjectsOf(env),
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

/** `ADMIN_SUBJECTS` as a list; unset or blank: the seeded demo user. */
export function adminSubjectsOf(env: Pick<ExampleEnv, 'ADMIN_SUBJECTS'>): string[] {
  const listed = (env.ADMIN_SUBJECTS ?? '')
    .split(',')
    .map((subject) => subject.trim())
    .filter((subject) => subject !== '');
  return listed.length > 0 ? listed : [SEED_USER];
}

/**
 * The options of every example's `adminRouter` at `/admin`: the context's auth cache, and the
 * subjects of `ADMIN_SUBJECTS` as admins (PATs only, the router's default).
 */
export function exampleAdminOptions(ctx: Pick<ExampleContext, 'auth' | 'adminSubjects'>) {
  const admins = new Set(ctx.adminSubjects);
  return {
    auth: ctx.auth,
    authorize: (identity: { subject: string }) => admins.has(identity.subject),
  };
}

/**
 * Inserts the seed tokens `SEED_PAT` / `SEED_DAEMON_TOKEN` unless they are already there (a
 * persistent database restarted, or another instance starting at the same time).
 */
export async function seedTokens(
  store: PgTokenStore,
  env: Pick<ExampleEnv, 'SEED_PAT' | 'SEED_DAEMON_TOKEN'>,
): Promise<void> {
  if (env.SEED_PAT) {
    const token = env.SEED_PAT;
    await seedToken(
      'SEED_PAT',
      () => store.findByHash('pat', store.hashToken(token)),
      () => store.createPat({ userId: SEED_USER, name: 'seed', token }),
    );
  }
  if (env.SEED_DAEMON_TOKEN) {
    const token = env.SEED_DAEMON_TOKEN;
    await seedToken(
      'SEED_DAEMON_TOKEN',
      () => store.findByHash('daemon', store.hashToken(token)),
      () => store.createDaemonToken({ workspaceId: SEED_WORKSPACE, daemonId: SEED_DAEMON, token }),
    );
  }
}

async function seedToken(
  variable: string,
  find: () => Promise<unknown>,
  create: () => Promise<unknown>,
): Promise<void> {
  if (await find()) return;
  try {
    await create();
  } catch (error) {
    // The message names the variable, never its value: the value is a secret.
    const fail = (reason: string): never => {
      throw new Error(`${variable} could not be seeded: ${reason}`, { cause: error });
    };
    if (error instanceof TypeError) fail('it is not a valid token');
    // Another instance may have inserted it meanwhile (UNIQUE token_hash): then it is there now.
    if (await find().catch(() => null)) return;
    fail('it was revoked or expired, or the database refused it (see the cause)');
  }
}
