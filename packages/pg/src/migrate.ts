import { migrations as defaultMigrations, type Migration } from './migrations.js';
import { type Queryable, quoteSchema, runScript, withTransaction } from './queryable.js';

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Schema that holds the tables; created when missing. Default: `'public'`. */
  schema?: string;
  /** Migrations to apply, in order. Default: the package's {@link migrations} list. */
  migrations?: readonly Migration[];
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Ids applied by this call, in order (empty when the schema was already up to date). */
  readonly applied: string[];
}

/** First key of the two-key advisory lock that serialises migrations (an arbitrary constant). */
const LOCK_CLASS = 0x41c4c4e;

/**
 * Brings the schema up to date. Idempotent: applied ids are recorded in
 * `<schema>.authcache_migrations` and skipped next time. Everything runs in one transaction
 * holding `pg_advisory_xact_lock` for this schema, so instances migrating at once take turns and
 * a failing migration leaves nothing half-applied. `db` may be a `pg.Pool` (a client is checked
 * out), a `pg.Client`, or PGlite.
 */
export async function migrate(db: Queryable, options: MigrateOptions = {}): Promise<MigrateResult> {
  const name = options.schema ?? 'public';
  const schema = quoteSchema(name);
  const list = options.migrations ?? defaultMigrations;
  const ids = new Set<string>();
  for (const migration of list) {
    if (ids.has(migration.id))
      throw new TypeError(`migrate: duplicate migration id "${migration.id}"`);
    ids.add(migration.id);
  }

  return withTransaction(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))', [LOCK_CLASS, name]);
    // CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database, so an
    // existing schema is looked up first (a role without that privilege can still migrate).
    const found = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
    if (found.rows.length === 0) await tx.query(`CREATE SCHEMA ${schema}`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.authcache_migrations (
        id text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const done = await tx.query<{ id: string }>(`SELECT id FROM ${schema}.authcache_migrations`);
    const applied = new Set(done.rows.map((row) => row.id));
    const result: string[] = [];
    for (const migration of list) {
      if (applied.has(migration.id)) continue;
      await runScript(tx, migration.up(schema));
      await tx.query(`INSERT INTO ${schema}.authcache_migrations (id) VALUES ($1)`, [migration.id]);
      result.push(migration.id);
    }
    return { applied: result };
  });
}
