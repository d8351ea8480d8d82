/**
 * `createFileTokenStore`: a `TokenStore` of split tokens kept in a JSON file (see format.ts).
 *
 * Change detection: `fs.stat` (device, inode, size, mtime and ctime in nanoseconds) at most once
 * per `statInterval`, on a timer and before a lookup whose last check is older than that, plus,
 * optionally, `fs.watch` on the directory (which also sees a file replaced by `mv`). A change
 * reloads the file; the rows that changed, vanished or appeared are invalidated through every
 * attached auth cache (and so, through its buses, everywhere). A file that does not parse keeps
 * the last good rows and logs why.
 */
import { type FSWatcher, readFileSync, statSync, watch as watchDir } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import {
  createSecretVerifier,
  hashTokenId,
  type Identity,
  type Logger,
  type SecretVerifier,
  type TokenStore,
} from '@authcache/core';
import { type LoadedRow, parseTokenFile } from './format.js';
import { revokeTokenRow } from './write.js';

/** Options of {@link createFileTokenStore}. */
export interface FileTokenStoreOptions {
  /** The token file (JSON, see the package README). Required; must exist and parse. */
  path: string;
  /**
   * Also reload as soon as the directory reports a change (`fs.watch`), instead of waiting for
   * the next stat. The stat timer keeps running (watchers can miss events). Default: `false`.
   */
  watch?: boolean;
  /** Milliseconds between two `fs.stat` of the file (≥ 10). Default: `1_000`. */
  statInterval?: number;
  /** Checks secrets against the rows' `secretHash`. Default: `createSecretVerifier()` (all formats). */
  secretVerifier?: SecretVerifier;
  /** Where reload failures go (never a secret or a hash). Default: `console`. */
  logger?: Logger;
  /** Current time in epoch ms, for expiry. Default: `Date.now`. */
  clock?: () => number;
}

/** What the store calls when rows change: `auth.invalidate` of an auth cache. */
export interface Invalidator {
  invalidate(kind: string, tokenHash: string): Promise<void>;
}

/** A token store over a file; `attach` it to the auth cache that uses it. */
export interface FileTokenStore extends TokenStore {
  /**
   * Routes the invalidations of changed rows to `auth` (an auth cache). Returns a detach
   * function. Attach every auth cache built over this store.
   */
  attach(auth: Invalidator): () => void;
  /** Checks the file now (as the timer does). `true` when a new version was loaded. */
  reload(): Promise<boolean>;
  /** Rows of the version being served. */
  readonly size: number;
  /** Stops the timer and the watcher. */
  close(): Promise<void>;
}

interface Version {
  readonly signature: string;
  readonly text: string;
  /** `kind:hashTokenId(id)` → row, for `findByHash`. */
  readonly byHash: ReadonlyMap<string, LoadedRow>;
  /** `kind:id` → row, for `verifySecret`. */
  readonly byId: ReadonlyMap<string, LoadedRow>;
}

const signatureOf = (s: {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;

function versionOf(text: string, signature: string): Version {
  const rows = parseTokenFile(text);
  return {
    signature,
    text,
    byHash: new Map(rows.map((row) => [`${row.kind}:${hashTokenId(row.id)}`, row])),
    byId: new Map(rows.map((row) => [`${row.kind}:${row.id}`, row])),
  };
}

/**
 * A token store over a human-editable file (the issue's `fileTokenStore`). Reads the file once,
 * synchronously: a missing or invalid file at start throws (with the row and field at fault).
 */
export function createFileTokenStore(options: FileTokenStoreOptions): FileTokenStore {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new TypeError('createFileTokenStore: options.path is required');
  }
  const path = resolvePath(options.path);
  const statInterval = options.statInterval ?? 1_000;
  if (!(Number.isFinite(statInterval) && statInterval >= 10)) {
    throw new TypeError('createFileTokenStore: statInterval must be a number ≥ 10 (ms)');
  }
  const verifier = options.secretVerifier ?? createSecretVerifier();
  const logger = options.logger ?? console;
  const clock = options.clock ?? Date.now;
  const caches = new Set<Invalidator>();

  let current: Version;
  try {
    const text = readFileSync(path, 'utf8');
    current = versionOf(text, signatureOf(statSync(path, { bigint: true })));
  } catch (error) {
    const why =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'does not exist'
        : String((error as Error).message);
    throw new Error(
      `createFileTokenStore: ${path}: ${why} (create it with: authcache token create --file ${options.path} …)`,
    );
  }
  /** The signature of the last file looked at, good or not: a bad file is reported once. */
  let seen = current.signature;
  let lastStat = clock();
  let checking: Promise<boolean> | undefined;
  let closed = false;

  async function check(): Promise<boolean> {
    lastStat = clock();
    // The next timed check is one statInterval after this one, whoever started this one: at most
    // one stat per interval, and never a gap longer than one.
    schedule();
    let signature: string;
    let text: string;
    try {
      signature = signatureOf(await stat(path, { bigint: true }));
      if (signature === seen) return false;
      text = await readFile(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (seen !== code)
        logger.warn('authcache/file: cannot read the token file; serving the last good version', {
          path,
          code,
        });
      seen = code;
      return false;
    }
    seen = signature;
    if (text === current.text) return false;
    let next: Version;
    try {
      next = versionOf(text, signature);
    } catch (error) {
      logger.warn('authcache/file: the token file is invalid; serving the last good version', {
        path,
        reason: (error as Error).message,
      });
      return false;
    }
    const previous = current;
    current = next;
    await invalidateChanges(previous, next);
    return true;
  }

  /** Every row that changed, vanished or appeared, through every attached cache. */
  async function invalidateChanges(previous: Version, next: Version): Promise<void> {
    const changed: string[] = [];
    for (const [key, row] of previous.byHash) {
      if (next.byHash.get(key)?.signature !== row.signature) changed.push(key);
    }
    for (const key of next.byHash.keys()) if (!previous.byHash.has(key)) changed.push(key);
    const work: Promise<void>[] = [];
    for (const key of changed) {
      const split = key.indexOf(':');
      for (const cache of caches) {
        work.push(cache.invalidate(key.slice(0, split), key.slice(split + 1)));
      }
    }
    const failed = (await Promise.allSettled(work)).filter((r) => r.status === 'rejected');
    if (failed.length > 0) {
      logger.warn('authcache/file: invalidating changed rows failed', { failed: failed.length });
    }
  }

  /** One check at a time; callers during a check share it. */
  function checkOnce(): Promise<boolean> {
    checking ??= check().finally(() => {
      checking = undefined;
    });
    return checking;
  }

  /** Before answering: a check if the timer is late (a busy event loop), else nothing. */
  function fresh(): Promise<unknown> | undefined {
    if (checking) return checking;
    if (clock() - lastStat >= statInterval) return checkOnce();
    return undefined;
  }

  let timer: NodeJS.Timeout | undefined;
  function schedule(): void {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => void checkOnce(), statInterval);
    timer.unref();
  }
  schedule();
  let watcher: FSWatcher | undefined;
  if (options.watch) {
    const name = basename(path);
    let soon: NodeJS.Timeout | undefined;
    try {
      // The directory, not the file: an editor's save-by-rename or an `mv` replaces the inode.
      watcher = watchDir(dirname(path), (_event, file) => {
        if (file !== null && file !== name) return;
        clearTimeout(soon);
        soon = setTimeout(() => void checkOnce(), 20);
        soon.unref();
      });
      watcher.on('error', (error) => {
        logger.warn('authcache/file: fs.watch failed; relying on the stat timer', {
          error: String(error),
        });
      });
      watcher.unref();
    } catch (error) {
      logger.warn('authcache/file: fs.watch unavailable; relying on the stat timer', {
        error: String(error),
      });
    }
  }

  const live = (row: LoadedRow | undefined): row is LoadedRow =>
    row !== undefined && !row.revoked && (row.expiresAt === null || row.expiresAt > clock());

  return {
    async findByHash(kind, tokenHash) {
      await fresh();
      const row = current.byHash.get(`${kind}:${tokenHash}`);
      if (!live(row)) return null;
      const identity: Identity = {
        kind: row.kind,
        tokenId: row.id,
        subject: row.subject,
        scopes: row.scopes,
        expiresAt: row.expiresAt,
        ...(row.name !== undefined ? { name: row.name } : {}),
      };
      return identity;
    },
    async verifySecret(kind, tokenId, secret) {
      await fresh();
      const row = current.byId.get(`${kind}:${tokenId}`);
      if (!live(row)) return false;
      return verifier.verify(secret, row.secretHash);
    },
    async touch() {
      // The file is not written on use: a write per use would race the administrator's edits.
    },
    async revoke(kind, tokenId, opts) {
      const revoked = await revokeTokenRow(path, kind, tokenId, opts);
      // A check already under way may have read the file before the write: wait, then look again.
      if (checking) await checking;
      await checkOnce();
      return revoked ? [hashTokenId(tokenId)] : [];
    },
    attach(auth) {
      caches.add(auth);
      return () => caches.delete(auth);
    },
    reload: checkOnce,
    get size() {
      return current.byId.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      await checking;
    },
  };
}
