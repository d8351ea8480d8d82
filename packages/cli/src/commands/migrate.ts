import { migrate as applyMigrations } from '@authcache/pg';
import { CONNECTION_OPTIONS, type Command, connectionOptions, EXIT } from '../command.js';
import { schemaOf, withPool } from '../connect.js';

/** `authcache migrate`: creates or updates the tables. */
export const migrate: Command = {
  name: 'migrate',
  summary: 'create or update the authcache tables',
  usage: `Usage: authcache migrate [--schema S] [--database-url URL]

Creates the schema (if missing) and applies pending migrations. Idempotent, safe to run from
several machines at once (an advisory lock serialises them).

${CONNECTION_OPTIONS}`,
  options: connectionOptions,
  async run(ctx) {
    const schema = schemaOf(ctx);
    const result = await withPool(ctx, (pool) => applyMigrations(pool, { schema }));
    ctx.io.stdout(
      result.applied.length === 0
        ? `schema ${schema} is up to date\n`
        : `applied to schema ${schema}: ${result.applied.join(', ')}\n`,
    );
    return EXIT.ok;
  },
};
