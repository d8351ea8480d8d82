import {
  CONNECTION_OPTIONS,
  type Command,
  connectionOptions,
  EXIT,
  str,
  UsageError,
} from '../command.js';
import { storeFor, withPool } from '../connect.js';
import { json, table } from '../format.js';

/** `authcache token list`: a user's PATs or a workspace's daemon tokens, never a secret. */
export const tokenList: Command = {
  name: 'token list',
  summary: "list a user's (or a workspace's) tokens, without secrets",
  usage: `Usage: authcache token list (--user U | --workspace W) [--all] [--json]

Lists a user's personal access tokens (or a workspace's daemon tokens), newest first. Shows
ids, names and display prefixes; never a token or a hash.
  --user U             list this user's personal access tokens
  --workspace W        list this workspace's daemon tokens
  --all                include revoked tokens
  --json               print a JSON array

${CONNECTION_OPTIONS}`,
  options: {
    ...connectionOptions,
    user: { type: 'string' },
    workspace: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(ctx) {
    const user = str(ctx, 'user');
    const workspace = str(ctx, 'workspace');
    if ((user === undefined) === (workspace === undefined)) {
      throw new UsageError('pass exactly one of --user and --workspace');
    }
    const includeRevoked = ctx.values.all === true;
    const asJson = ctx.values.json === true;
    const out = await withPool(ctx, async (pool) => {
      const store = storeFor(ctx, pool);
      if (user !== undefined) {
        const pats = await store.listPats(user, { includeRevoked });
        // Listed field by field, so nothing the store may add later leaks out.
        const rows = pats.map((pat) => ({
          id: pat.id,
          kind: 'pat',
          name: pat.name,
          tokenPrefix: pat.tokenPrefix,
          scopes: [...pat.scopes],
          expiresAt: pat.expiresAt?.toISOString() ?? null,
          lastUsedAt: pat.lastUsedAt?.toISOString() ?? null,
          createdAt: pat.createdAt.toISOString(),
          revoked: pat.revoked,
        }));
        if (asJson) return json(rows);
        if (rows.length === 0) return `no tokens for user ${user}\n`;
        return `${table([
          ['ID', 'NAME', 'PREFIX', 'SCOPES', 'EXPIRES', 'LAST USED', 'CREATED', 'REVOKED'],
          ...rows.map((row) => [
            row.id,
            row.name,
            `${row.tokenPrefix}…`,
            row.scopes.join(',') || '-',
            row.expiresAt ?? 'never',
            row.lastUsedAt ?? 'never',
            row.createdAt,
            row.revoked ? 'yes' : 'no',
          ]),
        ])}\n`;
      }
      const daemons = await store.listDaemonTokens(workspace!, { includeRevoked });
      const rows = daemons.map((token) => ({
        id: token.id,
        kind: 'daemon',
        workspaceId: token.workspaceId,
        daemonId: token.daemonId,
        expiresAt: token.expiresAt?.toISOString() ?? null,
        lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
        createdAt: token.createdAt.toISOString(),
        revoked: token.revoked,
      }));
      if (asJson) return json(rows);
      if (rows.length === 0) return `no daemon tokens for workspace ${workspace}\n`;
      return `${table([
        ['ID', 'DAEMON', 'EXPIRES', 'LAST USED', 'CREATED', 'REVOKED'],
        ...rows.map((row) => [
          row.id,
          row.daemonId,
          row.expiresAt ?? 'never',
          row.lastUsedAt ?? 'never',
          row.createdAt,
          row.revoked ? 'yes' : 'no',
        ]),
      ])}\n`;
    });
    ctx.io.stdout(out);
    return EXIT.ok;
  },
};
