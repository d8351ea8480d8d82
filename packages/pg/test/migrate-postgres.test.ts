import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPgTokenStore, type Migration, migrate, migrations } from '../src/index.js';
import { createPool, DATABASE_URL, dropSchema, freshSchemaName } from './helpers.js';

const schemas: string[] = [];
function schemaForTest(label: string): string {
  const schema = freshSchemaName(label);
  schemas.push(schema);
  return schema;
}

afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

describe('migrate on real Postgres', () => {
  it('lets instances migrating at the same time take turns (advisory lock)', async () => {
    // Without the lock, concurrent CREATE TABLE IF NOT EXISTS races on the catalog and one of the
    // instances fails with a unique violation; repeat to give a race room to happen.
    const pools = Array.from({ length: 4 }, () => createPool({ max: 1 }));
    try {
      for (let round = 0; round < 3; round++) {
        const schema = schemaForTest('race');
        const results = await Promise.all(pools.map((pool) => migrate(pool, { schema })));
        const applied = results.flatMap((r) => r.applied);
        expect(applied).toEqual(migrations.map((m) => m.id));
        expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      }
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('runs on a single pg.Client and applies only what is missing, in order', async () => {
    const schema = schemaForTest('client');
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      const first = migrations.slice(0, 1);
      expect((await migrate(client, { schema, migrations: first })).applied).toEqual([
        first[0]!.id,
      ]);
      const extra: Migration = {
        id: '9999_test_extra',
        up: (s) => `CREATE TABLE ${s}.extra (id int); INSERT INTO ${s}.extra VALUES (1), (2);`,
      };
      const all = [...migrations, extra];
      expect((await migrate(client, { schema, migrations: all })).applied).toEqual(
        all.slice(1).map((m) => m.id),
      );
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".extra`);
      expect(rows[0].n).toBe(2);
      // The connection is usable afterwards (no transaction left open).
      const status = await client.query('SELECT now() = statement_timestamp() AS outside');
      expect(status.rows[0].outside).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('rolls a failing migration back entirely, recording nothing', async () => {
    const schema = schemaForTest('fail');
    const pool = createPool({ max: 1 });
    try {
      const broken: Migration = {
        id: '9999_broken',
        up: (s) => `CREATE TABLE ${s}.half (id int); SELECT no_such_function();`,
      };
      await expect(migrate(pool, { schema, migrations: [...migrations, broken] })).rejects.toThrow(
        /no_such_function/,
      );
      const { rows } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(rows).toHaveLength(0);
      // Still works afterwards, and the pool's connection was not left inside a transaction.
      expect((await migrate(pool, { schema })).applied).toEqual(migrations.map((m) => m.id));
      const store = createPgTokenStore({ db: pool, schema });
      const created = await store.createPat({ userId: 'u', name: 'n' });
      expect((await store.findByHash('pat', store.hashToken(created.token)))?.tokenId).toBe(
        created.id,
      );
    } finally {
      await pool.end();
    }
  });

  it('rejects duplicate migration ids before touching the database', async () => {
    const pool = createPool({ max: 1 });
    try {
      const schema = schemaForTest('dup');
      await expect(
        migrate(pool, { schema, migrations: [...migrations, migrations[0]!] }),
      ).rejects.toThrow(TypeError);
      const { rows } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(rows).toHaveLength(0);
    } finally {
      await pool.end();
    }
  });
});
