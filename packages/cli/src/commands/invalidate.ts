import { defaultTokenKinds } from '@authcache/core';
import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  REDIS_OPTIONS,
  redisOptions,
  required,
  UsageError,
} from '../command.js';
import { withAuth, withPool } from '../connect.js';

/** The kind of SigV4 access keys (`SIGV4_KIND` of `@authcache/sigv4`, `createPgAccessKeyStore().kinds`). */
const SIGV4_KIND = 'sigv4';

/** A token hash: `token_hash` is SHA-256 hex, or HMAC-SHA256 hex with a pepper. */
const TOKEN_HASH_RE = /^[0-9a-f]{64}$/;
/** An access key id (the "hash" of the sigv4 kind): AWS's 16 to 128 word characters. */
const ACCESS_KEY_ID_RE = /^\w{16,128}$/;

/** Kind → what its `--hash` must look like. */
const KINDS: Readonly<Record<string, { re: RegExp; what: string }>> = {
  ...Object.fromEntries(
    Object.keys(defaultTokenKinds).map((kind) => [
      kind,
      {
        re: TOKEN_HASH_RE,
        what: 'the token_hash column: 64 lowercase hex characters (SHA-256, or HMAC-SHA256 with a pepper)',
      },
    ]),
  ),
  [SIGV4_KIND]: {
    re: ACCESS_KEY_ID_RE,
    what: 'the access key id (e.g. AKIAIOSFODNN7EXAMPLE): 16 to 128 letters, digits or _',
  },
};

/** `authcache invalidate --kind K --hash H`: drops cached state for one hash everywhere. */
export const invalidate: Command = {
  name: 'invalidate',
  summary: 'drop cached state for a token hash everywhere',
  usage: `Usage: authcache invalidate --kind K --hash H

Drops every instance's cached state for one token hash (e.g. after editing a row by hand); the
next resolve asks the store. Announced on createPgBus (the invalidation log) and, with a Redis URL,
on the Redis bus after clearing the Redis tier.
  --kind K             ${Object.keys(KINDS).join(', ')}
  --hash H             for pat and daemon: the token_hash column (64 lowercase hex
                       characters); for sigv4: the access key id

${CONNECTION_OPTIONS}

${REDIS_OPTIONS}`,
  options: {
    ...connectionOptions,
    ...redisOptions,
    kind: { type: 'string' },
    hash: { type: 'string' },
  },
  async run(ctx) {
    const kind = required(ctx, 'kind');
    const hash = required(ctx, 'hash');
    const expected = Object.hasOwn(KINDS, kind) ? KINDS[kind] : undefined;
    if (expected === undefined) {
      throw new UsageError(`--kind must be one of ${Object.keys(KINDS).join(', ')}`);
    }
    // The value is not echoed: someone may have pasted a token instead of its hash.
    if (!expected.re.test(hash)) {
      throw new UsageError(`--hash for the kind ${kind} must be ${expected.what}`);
    }
    await withPool(ctx, (pool) => withAuth(ctx, pool, true, (auth) => auth.invalidate(kind, hash)));
    ctx.io.stdout(`invalidated ${kind} ${hash}\n`);
    return EXIT.ok;
  },
};
