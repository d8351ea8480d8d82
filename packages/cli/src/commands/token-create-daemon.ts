import { required } from '../command.js';
import { tokenCreateCommand } from '../create-token.js';

/** `authcache token create-daemon`: a daemon token. */
export const tokenCreateDaemon = tokenCreateCommand({
  name: 'token create-daemon',
  summary: 'create a daemon token (prints it once)',
  synopsis: '--workspace W --daemon D',
  what: 'a daemon token',
  optionHelp: `  --workspace W        workspace id
  --daemon D           daemon id`,
  options: {
    workspace: { type: 'string' },
    daemon: { type: 'string' },
  },
  input: (ctx) => ({
    workspaceId: required(ctx, 'workspace'),
    daemonId: required(ctx, 'daemon'),
  }),
  create: (store, input, expiresAt) => store.createDaemonToken({ ...input, expiresAt }),
});
