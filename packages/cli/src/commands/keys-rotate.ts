import { quoteSchema } from '@authcache/pg';
import { createSealer, rotateSealed } from '@authcache/seal';
import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  OperationalError,
  required,
  str,
  UsageError,
} from '../command.js';
import { schemaOf, withPool } from '../connect.js';
import { json } from '../format.js';
import {
  accessKeySecrets,
  configuredBackend,
  configuredLegacy,
  KEY_BACKEND_OPTIONS,
  keyBackendOptions,
  progressBar,
} from '../keys.js';

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

/** `authcache keys rotate --to <key id>`: re-wraps every sealed secret, online and resumable. */
export const keysRotate: Command = {
  name: 'keys rotate',
  summary: 're-wrap every sealed secret with another key, online, resumable',
  usage: `Usage: authcache keys rotate --to <key id> [--batch-size N] [--max-rate N] [--json]

Re-wraps every access-key secret not yet on <key id> (and every old keyring row) with a new data
key wrapped by <key id>, in batches, each written with a compare-and-swap: servers keep working
(both the old and the new value open while the old key is configured), and an interrupted run
is resumed by running it again. Keep the old key until this ends with 0 failures and the apps'
cache ttl has passed. Exits 1 if any record could not be re-wrapped.
  --to K               the key id (local key id or PKCS#11 label) to wrap with; required
  --batch-size N       records per batch (default: 500)
  --max-rate N         at most N records per second (default: no limit)
  --json               print a JSON object

${KEY_BACKEND_OPTIONS}

${CONNECTION_OPTIONS}`,
  options: {
    ...connectionOptions,
    ...keyBackendOptions,
    to: { type: 'string' },
    'batch-size': { type: 'string' },
    'max-rate': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(ctx) {
    const to = required(ctx, 'to');
    const batchSize = positiveInt(str(ctx, 'batch-size'), '--batch-size', 500);
    const maxRate = positiveInt(str(ctx, 'max-rate'), '--max-rate', Number.POSITIVE_INFINITY);
    const backend = await configuredBackend(ctx);
    if (!backend) throw new OperationalError('keys rotate needs a configured key backend');
    if (!backend.describe().keyIds.includes(to)) {
      throw new OperationalError(
        `the configured ${backend.tag} backend has no key "${to}" (keys: ${backend.describe().keyIds.join(', ')})`,
      );
    }
    const legacy = configuredLegacy(ctx);
    const schema = schemaOf(ctx);
    return withPool(ctx, async (pool) => {
      try {
        await backend.open?.();
        const { rows } = await pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM ${quoteSchema(schema)}.access_key`,
        );
        const result = await rotateSealed({
          source: accessKeySecrets(pool, schema),
          sealer: createSealer({ backend }),
          toKeyId: to,
          batchSize,
          ...(Number.isFinite(maxRate) ? { maxRate } : {}),
          ...(legacy ? { legacy } : {}),
          onProgress: progressBar(ctx, Number(rows[0]!.n), 'rotate'),
        });
        if (ctx.values.json) ctx.io.stdout(json({ to, ...result }));
        else {
          ctx.io.stdout(
            `rotated to "${to}": ${result.rewrapped} re-wrapped, ${result.alreadyCurrent} already on it, ${result.changedMeanwhile} changed meanwhile (run again), ${result.failures.length} failed\n`,
          );
          for (const f of result.failures) ctx.io.stdout(`  FAILED ${f.id}: ${f.reason}\n`);
        }
        return result.failures.length > 0 ? EXIT.error : EXIT.ok;
      } finally {
        await backend.close?.();
      }
    });
  },
};
