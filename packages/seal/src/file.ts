import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { KeyBackend } from './backend.js';
import { SealOpenError } from './backend.js';
import { readHeader } from './format.js';
import { createSealer } from './sealer.js';

/** Options of {@link sealedFile}. */
export interface SealedFileOptions {
  /** The file. Its directory must exist; the file is created with mode 0600. Required. */
  path: string;
  /** Wraps the file's data key (`localKey`, `pkcs11Key`, …). Required. */
  backend: KeyBackend;
  /**
   * The row id bound into the AAD (with table `file` and column `token`): a file copied over
   * another with a different id does not open. Default: the file's absolute path.
   */
  id?: string;
}

/** A saved token: what `@authcache/outbound`'s `persist` option stores. */
export interface SealedFileToken {
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** A sealed file holding one token (`persist` of `@authcache/outbound`'s token sources). */
export interface SealedFile {
  readonly path: string;
  /** The saved token, `undefined` when there is no file. Throws when it exists but does not open. */
  load(): Promise<SealedFileToken | undefined>;
  /** Seals and writes atomically: a temporary file (mode 0600) in the same directory, renamed. */
  save(token: SealedFileToken): Promise<void>;
}

/**
 * One token in a file, sealed in the envelope format (binary, magic `ACSE`): for outbound tokens
 * that should survive a restart. A file whose header names another backend than the configured
 * one is refused, saying which.
 */
export function sealedFile(options: SealedFileOptions): SealedFile {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new TypeError('sealedFile: options.path is required');
  }
  const path = resolve(options.path);
  const { backend } = options;
  const sealer = createSealer({ backend, dataKeyTtlMs: 0 });
  const context = { table: 'file', column: 'token', rowId: options.id ?? path };

  return {
    path,
    async load() {
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const header = readHeader(bytes);
      if (header.backend !== backend.tag) {
        throw new SealOpenError(
          `sealedFile ${path}: sealed by the "${header.backend}" backend, but the configured backend is "${backend.tag}"`,
        );
      }
      const plain = await sealer.open(bytes, context);
      try {
        const value = JSON.parse(plain.toString('utf8')) as SealedFileToken;
        if (typeof value?.token !== 'string' || !Number.isFinite(value.expiresAt)) {
          throw new Error('not a token');
        }
        return { token: value.token, expiresAt: value.expiresAt };
      } catch {
        throw new SealOpenError(`sealedFile ${path}: the sealed content is not a saved token`);
      } finally {
        plain.fill(0);
      }
    },
    async save(token) {
      const plain = Buffer.from(JSON.stringify({ token: token.token, expiresAt: token.expiresAt }));
      let sealed: Buffer;
      try {
        sealed = await sealer.seal(plain, context);
      } finally {
        plain.fill(0);
      }
      const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(sealed);
        await handle.sync();
      } catch (error) {
        await handle.close();
        await unlink(temp).catch(() => {});
        throw error;
      }
      await handle.close();
      try {
        await rename(temp, path);
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
    },
  };
}
