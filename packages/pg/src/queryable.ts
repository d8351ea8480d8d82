/**
 * The one thing the store needs from a database: run a parameterised statement, get rows back.
 * A `pg.Pool`, a `pg.Client`, a `pg.PoolClient` and a PGlite instance all satisfy it as they are.
 * Parameters use Postgres placeholders (`$1`, `$2`, …); JS arrays bind to Postgres arrays and
 * `Date`s to `timestamptz` on both drivers.
 */
export interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: rows are typed by the caller, as pg and PGlite do.
  query<R = any>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

/** What migrations run on: a connection inside a transaction, optionally able to run scripts. */
interface ScriptRunner extends Queryable {
  /** PGlite's multi-statement runner. pg runs scripts through `query(text)` without params. */
  exec?(sql: string): Promise<unknown>;
}

interface PgliteLike extends ScriptRunner {
  transaction<T>(callback: (tx: ScriptRunner) => Promise<T>): Promise<T>;
}

interface PoolLike extends Queryable {
  connect(): Promise<Queryable & { release(destroy?: boolean | Error): void }>;
}

const SCHEMA_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Validates a schema name and returns it double-quoted for SQL. Only ASCII letters, digits and
 * `_` (not starting with a digit, at most 63 characters) are accepted, so the quoted name can
 * never close its quotes: identifier injection is impossible. Throws a `TypeError` otherwise.
 */
export function quoteSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_RE.test(schema)) {
    throw new TypeError(
      'authcache/pg: schema must match /^[A-Za-z_][A-Za-z0-9_]{0,62}$/ (letters, digits, _)',
    );
  }
  return `"${schema}"`;
}

/** Runs a (possibly multi-statement) SQL script. */
export async function runScript(db: ScriptRunner, sql: string): Promise<void> {
  // PGlite's query() uses the extended protocol (one statement); exec() takes a script.
  // pg's query() without params uses the simple protocol, which takes a script too.
  if (typeof db.exec === 'function') await db.exec(sql);
  else await db.query(sql);
}

function isPglite(db: Queryable): db is PgliteLike {
  return typeof (db as Partial<PgliteLike>).transaction === 'function';
}

function isPool(db: Queryable): db is PoolLike {
  // pg.Pool: connect() hands out a client. pg.Client also has connect(), but it (re)opens the
  // client itself and has no pool counters, so it is driven directly below.
  return typeof (db as Partial<PoolLike>).connect === 'function' && 'totalCount' in db;
}

/**
 * Runs `fn` inside one transaction on one connection: PGlite through its `transaction()`, a
 * `pg.Pool` on a checked-out client, anything else (a `pg.Client`, a single connection) with
 * BEGIN/COMMIT on itself.
 */
export async function withTransaction<T>(
  db: Queryable,
  fn: (tx: ScriptRunner) => Promise<T>,
): Promise<T> {
  if (isPglite(db)) return db.transaction(fn);
  if (isPool(db)) {
    const client = await db.connect();
    let broken: Error | undefined;
    try {
      return await inTransaction(client, fn);
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      // A connection whose transaction failed is discarded rather than reused in an unknown state.
      client.release(broken);
    }
  }
  return inTransaction(db, fn);
}

async function inTransaction<T>(db: Queryable, fn: (tx: ScriptRunner) => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
