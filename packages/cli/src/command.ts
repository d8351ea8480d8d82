/** What every command is made of: its context, its errors and the options it shares. */

/** Where the CLI writes and what environment it reads; `run` defaults to the process's. */
export interface CliIo {
  /** Receives standard output (tokens, listings). Default: `process.stdout`. */
  stdout: (text: string) => void;
  /** Receives errors, warnings and notes; never a token or a secret. Default: `process.stderr`. */
  stderr: (text: string) => void;
  /**
   * Environment (`DATABASE_URL`, `REDIS_URL`, `AUTHCACHE_SCHEMA`, `AUTHCACHE_PEPPER`).
   * Default: `process.env`.
   */
  env: Readonly<Record<string, string | undefined>>;
}

/** Exit codes of `run`: 0 ok, 1 operational error, 2 usage error. */
export const EXIT = Object.freeze({ ok: 0, error: 1, usage: 2 });

/**
 * Bad input: exits 2. With `showUsage` (the default) the command's usage follows the message;
 * without it the message stands alone (it already says where to look).
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}

/** Something went wrong while doing the work (database, Redis, unknown id): exits 1. */
export class OperationalError extends Error {}

export type OptionSpec = { type: 'string' | 'boolean'; short?: string };
export type Values = Record<string, string | boolean | undefined>;

/** What a command's `run` gets. */
export interface Context {
  /** The command's name, e.g. `token create`. */
  readonly name: string;
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly io: CliIo;
  /** Secrets to scrub from any error message (passwords of the URLs, the pepper, tokens). */
  readonly secrets: string[];
}

/** One command of the registry (`commands/index.ts`). */
export interface Command {
  /** The words that select it, e.g. `migrate` or `token create`. */
  readonly name: string;
  /** One line for `authcache --help`. */
  readonly summary: string;
  /** The text of `authcache help <name>` (starts with `Usage: authcache <name>`). */
  readonly usage: string;
  /** Its options; `--help` is added by the dispatcher. */
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** How many positional arguments it takes. Default: 0. */
  readonly maxPositionals?: number;
  /** Does the work and returns an exit code; throws `UsageError` or any other error. */
  run(ctx: Context): Promise<number>;
}

export const CONNECTION_OPTIONS = `Connection:
  --database-url URL   Postgres URL (default: $DATABASE_URL; one of them is required)
  --schema S           schema of the authcache tables (default: $AUTHCACHE_SCHEMA or public)
  -h, --help           show this help`;

export const REDIS_OPTIONS = `Redis (optional; announce on the Redis bus and tombstone the Redis tier too):
  --redis-url URL      Redis URL (default: $REDIS_URL; unset = Postgres only)
  --redis-prefix P     key prefix of the app's createRedisTier (default: authcache:)
  --redis-stream K     stream key of the app's createRedisBus (default: authcache:invalidations)`;

/** `--database-url` and `--schema`, taken by every command that connects. */
export const connectionOptions: Readonly<Record<string, OptionSpec>> = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
};

/** `--redis-url`, `--redis-prefix`, `--redis-stream`. */
export const redisOptions: Readonly<Record<string, OptionSpec>> = {
  'redis-url': { type: 'string' },
  'redis-prefix': { type: 'string' },
  'redis-stream': { type: 'string' },
};

/** The string value of `--name`, if given. */
export function str(ctx: Context, name: string): string | undefined {
  const value = ctx.values[name];
  return typeof value === 'string' ? value : undefined;
}

/** The value of `--name`; a usage error when it is missing or blank. */
export function required(ctx: Context, name: string): string {
  const value = str(ctx, name);
  if (value === undefined || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}
