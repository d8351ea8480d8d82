/**
 * Sources for tokens that something else produces: a file a sidecar writes (a Kubernetes
 * projected service-account token, a daemon's `mdt_` token) or a command that prints one.
 */
import { execFile } from 'node:child_process';
import { type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { InvalidTokenResultError } from './errors.js';
import {
  createTokenSource,
  type TokenResult,
  type TokenSource,
  type TokenSourceOptions,
} from './source.js';

/** The `exp` claim of a JWT, in epoch milliseconds; `undefined` when `token` is not a JWT with one. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp)
      ? payload.exp * 1000
      : undefined;
  } catch {
    return undefined;
  }
}

/** Options shared by {@link fromFile} and {@link fromCommand}. */
export interface SidecarSourceOptions extends Omit<TokenSourceOptions, 'fetch'> {
  /**
   * How long a token without a readable expiry (not a JWT with `exp`) is kept before it is read
   * again, in ms. A JWT's `exp` wins when it is sooner. Default: `300_000` (5 minutes).
   */
  ttl?: number;
}

/** Options of {@link fromFile}. */
export interface FromFileOptions extends SidecarSourceOptions {
  /**
   * How often the file's identity (inode, size, mtime) is checked, in ms; a change re-reads it at
   * once in the background. `0` turns the check off. Default: `1_000`.
   */
  watchInterval?: number;
}

function expiryOf(token: string, ttl: number, now: number): TokenResult {
  const exp = jwtExpiry(token);
  return { token, expiresAt: exp !== undefined ? Math.min(exp, now + ttl) : now + ttl };
}

/**
 * A source that reads its token from `path` (trimmed). The file is read again when its inode,
 * size or mtime changes (a sidecar rotated it, or an atomic rename replaced it), and at least
 * every `ttl` (or before the JWT's `exp`). The watcher never keeps the process alive.
 */
export function fromFile(path: string, options: FromFileOptions = {}): TokenSource {
  const ttl = options.ttl ?? 300_000;
  const watchInterval = options.watchInterval ?? 1_000;
  const now = () => (options.clock ?? { now: Date.now }).now();
  let identity = '';
  const source = createTokenSource({
    name: `file:${path}`,
    ...options,
    async fetch(signal) {
      const info = await stat(path);
      const token = (await readFile(path, { encoding: 'utf8', signal })).trim();
      identity = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (!token) throw new InvalidTokenResultError(`file:${path}`, 'the file is empty');
      return expiryOf(token, ttl, now());
    },
  });
  if (watchInterval <= 0) return source;
  const listener = (current: { ino: number; size: number; mtimeMs: number }) => {
    const seen = `${current.ino}:${current.size}:${current.mtimeMs}`;
    // Only re-read a file that was read before and is there now (a rename may leave a gap).
    if (identity === '' || seen === identity || current.ino === 0 || source.closed) return;
    source.refresh().catch(() => {}); // a failure is counted and retried by the source
  };
  const watcher: StatWatcher = watchFile(
    path,
    { interval: watchInterval, persistent: false },
    listener,
  );
  watcher.unref?.();
  return {
    get: source.get,
    refresh: source.refresh,
    stats: source.stats,
    close() {
      unwatchFile(path, listener);
      source.close();
    },
    get closed() {
      return source.closed;
    },
    name: source.name,
  };
}

/** Options of {@link fromCommand}. */
export interface FromCommandOptions extends SidecarSourceOptions {
  /** Environment of the command. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the command. */
  cwd?: string;
}

/**
 * A source whose token is what `command args…` prints (no shell). Its standard output is either
 * the token itself (a JWT's `exp` is used when there is one, else `ttl`) or a JSON object with
 * `token` or `access_token` and one of `expires_at` / `expiresAt` / `expiration` (ISO date or
 * epoch seconds) or `expires_in` (seconds) — the shape of most credential helpers. A command that
 * exits non-zero fails the fetch; its output is never put in the error.
 */
export function fromCommand(
  command: string,
  args: readonly string[] = [],
  options: FromCommandOptions = {},
): TokenSource {
  const ttl = options.ttl ?? 300_000;
  const name = `command:${command}`;
  const now = () => (options.clock ?? { now: Date.now }).now();
  return createTokenSource({
    name,
    ...options,
    fetch: (signal) =>
      new Promise<TokenResult>((resolve, reject) => {
        execFile(
          command,
          [...args],
          { signal, env: options.env, cwd: options.cwd, maxBuffer: 1 << 20, encoding: 'utf8' },
          (error, stdout) => {
            if (error) {
              const code = (error as { code?: unknown }).code;
              const why = `the command failed (${String(code ?? error.name)})`;
              return reject(new InvalidTokenResultError(name, why));
            }
            try {
              resolve(parseCommandOutput(name, stdout.trim(), ttl, now()));
            } catch (parseError) {
              reject(parseError);
            }
          },
        );
      }),
  });
}

function parseCommandOutput(name: string, output: string, ttl: number, now: number): TokenResult {
  if (!output.startsWith('{')) {
    if (!output) throw new InvalidTokenResultError(name, 'the command printed nothing');
    return expiryOf(output, ttl, now);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(output) as Record<string, unknown>;
  } catch {
    throw new InvalidTokenResultError(name, 'the command printed invalid JSON');
  }
  const token = parsed.token ?? parsed.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new InvalidTokenResultError(name, 'the JSON has no token or access_token');
  }
  const at = parsed.expires_at ?? parsed.expiresAt ?? parsed.expiration;
  if (typeof at === 'number') return { token, expiresAt: at < 1e12 ? at * 1000 : at };
  if (typeof at === 'string') {
    const ms = Date.parse(at);
    if (Number.isFinite(ms)) return { token, expiresAt: ms };
  }
  if (typeof parsed.expires_in === 'number')
    return { token, expiresAt: now + parsed.expires_in * 1000 };
  return expiryOf(token, ttl, now);
}
