import { type AuthCache, type AuthCacheOptions, createAuthCache } from '@authcache/core';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createPool, dropSchema, freshSchemaName } from '@authcache/testkit';
import type pg from 'pg';

export {
  type CuttableProxy,
  createPool,
  DATABASE_URL,
  dropSchema,
  freshSchemaName,
  readSchemaStats,
  type SchemaStats,
  startProxy,
} from '@authcache/testkit';

/** An auth cache over `createPgTokenStore` in a private schema of the shared Postgres. */
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
  const store = createPgTokenStore({ db: pool, schema });
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
