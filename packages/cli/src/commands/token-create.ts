import { required, str } from '../command.js';
import { tokenCreateCommand } from '../create-token.js';
import { createFileToken } from '../file-tokens.js';

/** `authcache token create`: a personal access token. */
export const tokenCreate = tokenCreateCommand({
  name: 'token create',
  summary: 'create a personal access token (prints it once)',
  synopsis: '--user U --name N [--scopes a,b]',
  what: 'a personal access token',
  optionHelp: `  --user U             owner (user id)
  --name N             display name
  --scopes a,b         comma-separated scopes (default: none)`,
  options: {
    user: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'string' },
  },
  input: (ctx) => ({
    userId: required(ctx, 'user'),
    name: required(ctx, 'name'),
    scopes: (str(ctx, 'scopes') ?? '')
      .split(',')
      .map((scope) => scope.trim())
      .filter((scope) => scope !== ''),
  }),
  create: (store, input, expiresAt) => store.createPat({ ...input, expiresAt }),
  createInFile: createFileToken,
});
