import {
  defaultTokenKinds,
  INVALIDATION_SCOPES,
  type InvalidationScope,
  parseInvalidationScope,
  scopeSelectors,
} from '@authcache/core';
import {
  CONNECTION_OPTIONS,
  type Command,
  type Context,
  connectionOptions,
  EXIT,
  REDIS_OPTIONS,
  redisOptions,
  required,
  str,
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

/** `--kind K --hash H`: one token hash (the form that predates scopes). */
async function byHash(ctx: Context): Promise<number> {
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
}

/** The scope named by the positional argument and its flags, as the admin API reads its body. */
function scopeOf(ctx: Context, name: string): InvalidationScope {
  if (ctx.values.hash !== undefined) {
    throw new UsageError('--hash goes without a scope: authcache invalidate --kind K --hash H');
  }
  const parsed = parseInvalidationScope({
    scope: name,
    kind: str(ctx, 'kind'),
    id: str(ctx, 'id'),
    subject: str(ctx, 'subject'),
  });
  if (!parsed.ok) {
    throw new UsageError(
      parsed.field === 'scope'
        ? `the scope must be one of ${INVALIDATION_SCOPES.join(', ')}`
        : `--${parsed.field} is required for scope ${name}`,
    );
  }
  if (parsed.scope.scope === 'all' && ctx.values.yes !== true) {
    throw new UsageError('scope all drops every cached entry on every instance: add --yes');
  }
  return parsed.scope;
}

/** `authcache invalidate <scope> …` (and `--kind K --hash H`): drops cached state everywhere. */
export const invalidate: Command = {
  name: 'invalidate',
  summary: 'drop cached state everywhere: a token, a subject, a kind, an access key, all',
  usage: `Usage: authcache invalidate <scope> [selectors]
       authcache invalidate --kind K --hash H

Drops cached state on every instance (and in the Redis tier); the next resolve of a matching
token asks the store. Nothing is revoked: use 'authcache token revoke' for that. Announced on
createPgBus (the invalidation log) and, with a Redis URL, on the Redis bus after recording it in
the Redis tier. The scopes and selectors are the admin API's (POST …/invalidate):
  token --kind K --id ID     one token by id (token list shows ids)
  subject --subject S        every token of a user (PAT user id, daemon id, key principal)
  kind --kind K              every token of a kind (${Object.keys(KINDS).join(', ')}, …)
  access_key --id ID         one SigV4 access key
  all --yes                  everything (revoke tombstones stay)

One token hash, without a scope:
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
    id: { type: 'string' },
    subject: { type: 'string' },
    yes: { type: 'boolean' },
  },
  maxPositionals: 1,
  async run(ctx) {
    const name = ctx.positionals[0];
    if (name === undefined) return byHash(ctx);
    const scope = scopeOf(ctx, name);
    const result = await withPool(ctx, (pool) =>
      withAuth(ctx, pool, true, (auth) => auth.invalidateScope(scope)),
    );
    const selectors = Object.entries(scopeSelectors(scope))
      .map(([key, value]) => ` ${key}=${value}`)
      .join('');
    ctx.io.stdout(
      `invalidated ${scope.scope}${selectors} (epoch ${new Date(result.epoch).toISOString()})\n`,
    );
    return EXIT.ok;
  },
};
