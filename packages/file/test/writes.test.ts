// Atomic, locked writes: processes writing at once never lose a row, readers never see half a
// file, the mode is kept, a stale lock left by a crashed writer is taken over.
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseTokenFile, revokeTokenRow, updateTokenFile } from '../src/index.js';
import { tempDir } from './support.js';

let tmp: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  tmp = tempDir();
  path = join(tmp.dir, 'tokens.json');
});
afterEach(() => tmp.cleanup());

const writer = (tag: string, count: number) =>
  promisify(execFile)(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      new URL('./writer.ts', import.meta.url).pathname,
      path,
      tag,
      String(count),
    ],
    { timeout: 60_000 },
  );

it('two processes adding 60 rows each at once: all 120 rows are there, every read parses', async () => {
  await updateTokenFile(path, () => {});
  chmodSync(path, 0o640);
  let reads = 0;
  let torn = 0;
  const reader = setInterval(() => {
    reads++;
    try {
      parseTokenFile(readFileSync(path, 'utf8'));
    } catch {
      torn++;
    }
  }, 2);
  await Promise.all([writer('a', 60), writer('b', 60)]);
  clearInterval(reader);
  const ids = parseTokenFile(readFileSync(path, 'utf8')).map((row) => row.id);
  expect(ids).toHaveLength(120);
  expect(new Set(ids).size).toBe(120);
  expect(torn).toBe(0);
  expect(reads).toBeGreaterThan(0);
  expect(statSync(path).mode & 0o777).toBe(0o640);
}, 120_000);

it('a stale lock (a writer that crashed) is taken over; a fresh one makes the writer wait', async () => {
  writeFileSync(`${path}.lock`, '99999\n');
  const old = Date.now() / 1000 - 120;
  utimesSync(`${path}.lock`, old, old);
  await updateTokenFile(path, () => {});
  expect(() => statSync(`${path}.lock`)).toThrow(/ENOENT/);

  writeFileSync(`${path}.lock`, '1\n');
  await expect(updateTokenFile(path, () => {}, { lockTimeoutMs: 200 })).rejects.toThrow(
    /locked by another writer/,
  );
});

it('revoking an unknown id leaves the file untouched (same inode and mtime)', async () => {
  await updateTokenFile(path, () => {});
  const before = statSync(path, { bigint: true });
  expect(await revokeTokenRow(path, 'pat', 'nope')).toBe(false);
  const after = statSync(path, { bigint: true });
  expect([after.ino, after.mtimeNs]).toEqual([before.ino, before.mtimeNs]);
});
