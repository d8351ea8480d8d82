/**
 * Changing the token file safely from several processes: every change runs under a lock file
 * (`<path>.lock`, created with O_EXCL), reads the current file, applies the change and writes a
 * temporary file in the same directory that is fsynced and renamed over the original — readers
 * see the old file or the new one, never half of one, and two writers never lose a row. The
 * file keeps its permission bits (0600 for a new file).
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { formatTokenFile, parseTokenFile, type TokenFileData, type TokenRow } from './format.js';

/** Options of {@link updateTokenFile}. */
export interface UpdateOptions {
  /** How long to wait for another writer's lock before giving up. Default: `10_000` ms. */
  lockTimeoutMs?: number;
  /**
   * A lock file older than this is taken to be left by a crashed writer and removed. Writers
   * hold the lock for milliseconds. Default: `30_000` ms.
   */
  staleLockMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function acquire(lockPath: string, timeoutMs: number, staleMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const age = await stat(lockPath).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > staleMs) {
      // Left by a writer that died; removing it races only with other removers (harmless).
      await unlink(lockPath).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`the token file is locked by another writer (${basename(lockPath)})`);
    }
    await sleep(wait * (0.5 + Math.random()));
  }
}

/**
 * Applies `change` to the token file at `path` under its lock and replaces the file atomically.
 * A missing file starts empty (created 0600). A file that does not parse is refused (fix it
 * first: a writer must never replace rows it could not read). Returns what `change` returns.
 */
export async function updateTokenFile<T>(
  path: string,
  change: (data: TokenFileData) => T,
  options: UpdateOptions = {},
): Promise<T> {
  const lockPath = `${path}.lock`;
  await acquire(lockPath, options.lockTimeoutMs ?? 10_000, options.staleLockMs ?? 30_000);
  try {
    let text: string | undefined;
    let mode = 0o600;
    try {
      text = await readFile(path, 'utf8');
      mode = (await stat(path)).mode & 0o777;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let data: TokenFileData = { version: 1, tokens: [] };
    if (text !== undefined) {
      parseTokenFile(text); // throws, naming the row and field, if the file is not valid
      data = JSON.parse(text) as TokenFileData;
    }
    const result = change(data);
    const next = formatTokenFile(data);
    parseTokenFile(next); // the change itself must leave a valid file
    // Nothing changed (e.g. revoking an unknown id): leave the file, its inode and mtime alone.
    if (next !== text) await replace(path, next, mode);
    return result;
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

/** Writes `text` to a temporary file beside `path` with `mode`, fsyncs it, renames it over. */
async function replace(path: string, text: string, mode: number): Promise<void> {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.chmod(mode); // the umask may have narrowed the mode given to open
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  // Best effort: make the rename itself durable.
  const dir = await open(dirname(path), 'r').catch(() => undefined);
  await dir?.sync().catch(() => {});
  await dir?.close();
}

/** Adds a row (under the lock); throws if the kind already has a row with this id. */
export function addTokenRow(path: string, row: TokenRow, options?: UpdateOptions): Promise<void> {
  return updateTokenFile(
    path,
    (data) => {
      const kind = row.kind ?? 'pat';
      if (data.tokens.some((t) => t.id === row.id && (t.kind ?? 'pat') === kind)) {
        throw new Error(`the token file already has a ${kind} token with this id`);
      }
      data.tokens.push(row);
    },
    options,
  );
}

/**
 * Sets `revoked: true` on the live row `id` of `kind` (under the lock). Returns `false` when no
 * such row exists or it is already revoked (or belongs to another `subject`, when given).
 */
export function revokeTokenRow(
  path: string,
  kind: string,
  id: string,
  options: UpdateOptions & { subject?: string } = {},
): Promise<boolean> {
  return updateTokenFile(
    path,
    (data) => {
      const row = data.tokens.find((t) => t.id === id && (t.kind ?? 'pat') === kind);
      if (!row || row.revoked === true) return false;
      if (options.subject !== undefined && row.subject !== options.subject) return false;
      row.revoked = true;
      return true;
    },
    options,
  );
}
