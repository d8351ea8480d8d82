import { randomBytes } from 'node:crypto';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import pg from 'pg';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function createPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, ...config });
  pool.on('error', () => {});
  return pool;
}

/** A fresh, migrated schema for one test file, and a way to drop it. */
export async function freshDatabase(label: string): Promise<{
  schema: string;
  admin: pg.Pool;
  store: PgTokenStore;
  drop(): Promise<void>;
}> {
  const schema = `authcache_redis_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = createPool({ max: 4 });
  await migrate(admin, { schema });
  return {
    schema,
    admin,
    store: createPgTokenStore({ db: admin, schema }),
    async drop() {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
