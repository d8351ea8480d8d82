/**
 * The registry: every `authcache` command, in the order `authcache --help` lists them. A new
 * command is one file in this folder exporting a `Command`, plus one line here.
 */
import type { Command } from '../command.js';
import { invalidate } from './invalidate.js';
import { keysRotate } from './keys-rotate.js';
import { keysStatus } from './keys-status.js';
import { migrate } from './migrate.js';
import { status } from './status.js';
import { tokenCreate } from './token-create.js';
import { tokenCreateDaemon } from './token-create-daemon.js';
import { tokenList } from './token-list.js';
import { tokenRevoke } from './token-revoke.js';

export const commands: readonly Command[] = [
  migrate,
  tokenCreate,
  tokenCreateDaemon,
  tokenList,
  tokenRevoke,
  invalidate,
  status,
  keysStatus,
  keysRotate,
];
