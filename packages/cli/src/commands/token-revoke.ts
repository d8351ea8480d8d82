import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  OperationalError,
  REDIS_OPTIONS,
  redisOptions,
  str,
  UsageError,
} from '../command.js';
import { withAuth, withPool } from '../connect.js';
import { revokeFileToken } from '../file-tokens.js';

const KINDS = ['pat', 'daemon'] as const;

/** `authcache token revoke <id>`: revokes in the store and announces it on the buses. */
export const tokenRevoke: Command = {
  name: 'token revoke',
  summary: 'revoke a token everywhere',
  usage: `Usage: authcache token revoke <id> [--kind pat|daemon] [--file PATH]

Revokes the token in the store. The store's triggers log it and createPgBus delivers it to every
running instance; with a Redis URL the CLI also tombstones the Redis tier and publishes on the
Redis bus.
  --kind K             pat or daemon (default: whichever has a live token with this id;
                       with --file: pat)
  --file PATH          revoke in this token file (@authcache/file) instead of Postgres; running
                       servers see it at their next stat (1 s by default)

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: {
    ...connectionOptions,
    ...redisOptions,
    kind: { type: 'string' },
    file: { type: 'string' },
  },
  maxPositionals: 1,
  async run(ctx) {
    const id = ctx.positionals[0];
    if (id === undefined || id.trim() === '') throw new UsageError('the token id is required');
    const kind = str(ctx, 'kind');
    if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--kind must be one of ${KINDS.join(', ')}`);
    }
    const file = str(ctx, 'file');
    if (file !== undefined) {
      ctx.io.stdout(`revoked ${await revokeFileToken(ctx, file, id)} ${id}\n`);
      return EXIT.ok;
    }
    const kinds = kind === undefined ? KINDS : [kind];
    const revoked = await withPool(ctx, (pool) =>
      withAuth(ctx, pool, false, async (auth) => {
        for (const candidate of kinds) {
          if (await auth.revoke(candidate, id)) return candidate;
        }
        return undefined;
      }),
    );
    if (revoked === undefined) {
      throw new OperationalError(
        `no live ${kind ?? 'pat or daemon'} token has the id ${id} (unknown or already revoked)`,
      );
    }
    ctx.io.stdout(`revoked ${revoked} ${id}\n`);
    return EXIT.ok;
  },
};
