import { describe, expect, it } from 'vitest';
import { createSealer, KeyBackendUnavailableError, localKeyFromEnv } from '../src/index.js';
import { countingBackend } from './counting.js';

const at = (rowId: string) => ({ table: 't', column: 'c', rowId });

describe('createSealer', () => {
  it('one backend unwrap per record per window, shared by concurrent opens', async () => {
    let now = 1_000_000;
    const backend = countingBackend();
    const sealer = createSealer({ backend, dataKeyTtlMs: 60_000, clock: () => now });
    const a = await sealer.seal('a-secret', at('a'));
    const b = await sealer.seal('b-secret', at('b'));
    expect(backend.calls.wrap).toBe(2);
    const opened = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sealer.open(i % 2 ? a : b, at(i % 2 ? 'a' : 'b'))),
    );
    expect(new Set(opened.map(String))).toEqual(new Set(['a-secret', 'b-secret']));
    expect(backend.calls.unwrap).toBe(2);
    now += 59_000;
    await sealer.open(a, at('a'));
    expect(backend.calls.unwrap).toBe(2);
    now += 2_000; // past the window: back to the backend once
    await sealer.open(a, at('a'));
    await sealer.open(a, at('a'));
    expect(backend.calls.unwrap).toBe(3);
  });

  it('backend down: warm records keep opening, cold ones fail as unavailable', async () => {
    const backend = countingBackend();
    const sealer = createSealer({ backend });
    const warm = await sealer.seal('warm', at('w'));
    const cold = await sealer.seal('cold', at('c'));
    await sealer.open(warm, at('w'));
    backend.down = true;
    await expect(sealer.open(warm, at('w'))).resolves.toEqual(Buffer.from('warm'));
    const error = await sealer.open(cold, at('c')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyBackendUnavailableError);
    expect((error as KeyBackendUnavailableError).unavailable).toBe(true);
    expect((error as Error).message).toContain('key backend "local" is unavailable');
    backend.down = false;
    await expect(sealer.open(cold, at('c'))).resolves.toEqual(Buffer.from('cold'));
  });

  it('bounded: the oldest data key goes first, a zero window caches nothing', async () => {
    const backend = countingBackend();
    const sealer = createSealer({ backend, maxDataKeys: 2 });
    const sealed = await Promise.all(['x', 'y', 'z'].map((r) => sealer.seal(r, at(r))));
    for (const [i, r] of ['x', 'y', 'z'].entries()) await sealer.open(sealed[i]!, at(r));
    expect(sealer.stats().cachedKeys).toBe(2);
    await sealer.open(sealed[0]!, at('x'));
    expect(backend.calls.unwrap).toBe(4);
    const uncached = createSealer({ backend, dataKeyTtlMs: 0 });
    await uncached.open(sealed[1]!, at('y'));
    await uncached.open(sealed[1]!, at('y'));
    expect(backend.calls.unwrap).toBe(6);
    expect(uncached.stats().cachedKeys).toBe(0);
  });

  it('rejects bad options and contexts', async () => {
    expect(() => createSealer({} as never)).toThrow(/backend must be a key backend/);
    const sealer = createSealer({ backend: countingBackend() });
    await expect(sealer.seal('x', { table: 't', column: 'c', rowId: '' })).rejects.toThrow(
      'seal: context.rowId must be a non-empty string',
    );
  });

  it('localKeyFromEnv: several key ids, a key file under $CREDENTIALS_DIRECTORY, the legacy variable', async () => {
    const k = (n: number) => Buffer.alloc(32, n).toString('base64');
    const many = localKeyFromEnv({
      AUTHCACHE_SEAL_KEYS: `old=${k(1)},new=${k(2)}`,
      AUTHCACHE_SEAL_CURRENT: 'new',
    })!;
    expect(many.describe()).toMatchObject({ currentKeyId: 'new', keyIds: ['old', 'new'] });
    const legacy = localKeyFromEnv({ ACCESS_KEY_ENCRYPTION_KEY: k(3) })!;
    expect(legacy.currentKeyId).toBe('env');
    expect(localKeyFromEnv({})).toBeUndefined();
    expect(() => localKeyFromEnv({ ACCESS_KEY_ENCRYPTION_KEY: 'c2hvcnQ=' })).toThrow(
      'ACCESS_KEY_ENCRYPTION_KEY: key "env" must be 32 bytes in base64',
    );
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/seal-cred-`);
    writeFileSync(`${dir}/seal-keys`, `# rotated 2026-11\nk2026=${k(4)}\n`);
    try {
      const fromFile = localKeyFromEnv({
        AUTHCACHE_SEAL_KEY_FILE: 'seal-keys',
        CREDENTIALS_DIRECTORY: dir,
      })!;
      expect(fromFile.describe().keyIds).toEqual(['k2026']);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
