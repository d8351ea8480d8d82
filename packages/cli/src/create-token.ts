/** The one implementation behind `token create` and `token create-daemon`. */
import type { CreatedToken, PgTokenStore } from '@authcache/pg';
import {
  CONNECTION_OPTIONS,
  type Command,
  type Context,
  connectionOptions,
  EXIT,
  type OptionSpec,
  str,
  UsageError,
} from './command.js';
import { storeFor, withPool } from './connect.js';
import { parseDuration } from './duration.js';
import { FILE_OPTIONS } from './file-tokens.js';
import { date, json } from './format.js';

const FILE_OPTION_SPECS: Readonly<Record<string, OptionSpec>> = {
  file: { type: 'string' },
  prefix: { type: 'string' },
  hash: { type: 'string' },
};

export const CREATED_NOTE =
  'Store this token now: it is shown only once and cannot be recovered.\n';

export const NEVER_EXPIRES_WARNING =
  'warning: this token never expires. Pass --expires-in (e.g. --expires-in 90d) to limit its ' +
  'lifetime, or --expires-in never to say that is intended.\n';

/** What differs between the kinds of token `token create…` makes. */
export interface TokenCreateSpec<Input> {
  /** Command name, e.g. `token create`. */
  readonly name: string;
  readonly summary: string;
  /** The required arguments of the usage line, e.g. `--user U --name N [--scopes a,b]`. */
  readonly synopsis: string;
  /** What it creates, e.g. `a personal access token`. */
  readonly what: string;
  /** The usage lines of `options`, indented like the others. */
  readonly optionHelp: string;
  /** The kind-specific options (`--expires-in` and `--json` are added). */
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Reads and checks the kind-specific options; throws `UsageError` before anything connects. */
  input(ctx: Context): Input;
  /** Creates the token in the store. */
  create(store: PgTokenStore, input: Input, expiresAt: Date | null): Promise<CreatedToken>;
  /** With `--file`: creates the token in a token file instead (kinds that support it). */
  createInFile?(
    ctx: Context,
    path: string,
    input: Input,
    expiresAt: Date | null,
  ): Promise<Pick<CreatedToken, 'id' | 'token' | 'tokenPrefix' | 'expiresAt'>>;
}

/**
 * A `token create…` command: checks its options, creates the token, prints the id and the token
 * once on stdout (text or `--json`), and on stderr the "shown only once" note plus a warning when
 * the token never expires without `--expires-in never` having said so.
 */
export function tokenCreateCommand<Input>(spec: TokenCreateSpec<Input>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: `Usage: authcache ${spec.name} ${spec.synopsis} [--expires-in 30d|never] [--json]

Creates ${spec.what} and prints its id and the token itself, once, on stdout.
${spec.optionHelp}
  --expires-in D       lifetime: 3600s, 15m, 12h, 30d, 2w, or never (default: never,
                       with a warning on stderr unless 'never' is given explicitly)
  --json               print {"id","token","tokenPrefix","expiresAt"}

${spec.createInFile ? `${FILE_OPTIONS}\n\n` : ''}${CONNECTION_OPTIONS}`,
    options: {
      ...connectionOptions,
      ...spec.options,
      ...(spec.createInFile ? FILE_OPTION_SPECS : {}),
      'expires-in': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(ctx) {
      const input = spec.input(ctx);
      const expiry = expiryOf(ctx);
      const file = str(ctx, 'file');
      const created =
        file !== undefined && spec.createInFile
          ? await spec.createInFile(ctx, file, input, expiry.expiresAt)
          : await withPool(ctx, (pool) =>
              spec.create(storeFor(ctx, pool), input, expiry.expiresAt),
            );
      ctx.secrets.push(created.token);
      ctx.io.stdout(
        ctx.values.json
          ? json({
              id: created.id,
              token: created.token,
              tokenPrefix: created.tokenPrefix,
              expiresAt: created.expiresAt?.toISOString() ?? null,
            })
          : `id:      ${created.id}\ntoken:   ${created.token}\nexpires: ${date(created.expiresAt)}\n`,
      );
      ctx.io.stderr(CREATED_NOTE);
      if (expiry.implicit) ctx.io.stderr(NEVER_EXPIRES_WARNING);
      return EXIT.ok;
    },
  };
}

/** `--expires-in` as a date; `null` for `never`, and `implicit` when the flag was left out. */
function expiryOf(ctx: Context): { expiresAt: Date | null; implicit: boolean } {
  const text = str(ctx, 'expires-in');
  if (text === undefined) return { expiresAt: null, implicit: true };
  if (text.trim() === 'never') return { expiresAt: null, implicit: false };
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(
      `--expires-in "${text}" is not a duration such as 3600s, 15m, 12h, 30d or 2w (or never)`,
    );
  }
  return { expiresAt: new Date(Date.now() + ms), implicit: false };
}
