import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KeyBackend, localKey, readHeader, sealedFile } from '@authcache/seal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenSource } from '../src/index.js';

let dir: string;
let endpoint: string;
let issued = 0;
const server = createServer((_req, res) => {
  issued++;
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      access_token: `tok-${issued}-${randomBytes(8).toString('hex')}`,
      expires_in: 3600,
    }),
  );
});
const key = randomBytes(32);
const backend = () => localKey({ keys: { k1: key } });

/** The upstream: a real HTTP token endpoint. */
const upstream = async (signal: AbortSignal) => {
  const res = await fetch(endpoint, { signal });
  const body = (await res.json()) as { access_token: string; expires_in: number };
  return { token: body.access_token, ttl: body.expires_in * 1_000 };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authcache-persist-'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('persist: sealedFile', () => {
  it('a restart (a new source) reuses the saved token with zero upstream fetches', async () => {
    const path = join(dir, 'api.token');
    const first = createTokenSource({
      name: 'api',
      fetch: upstream,
      persist: sealedFile({ path, backend: backend() }),
    });
    const token = await first.get();
    first.close();
    expect(issued).toBe(1);
    const bytes = await readFile(path);
    expect(bytes.subarray(0, 4).toString()).toBe('ACSE');
    expect(bytes.includes(Buffer.from(token))).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const before = issued;
    const restarted = createTokenSource({
      name: 'api',
      fetch: upstream,
      persist: sealedFile({ path, backend: backend() }),
    });
    expect(await restarted.get()).toBe(token);
    expect(await restarted.get()).toBe(token);
    expect(issued - before).toBe(0);
    restarted.close();
  });

  it('an expired saved token is replaced by one upstream fetch', async () => {
    const path = join(dir, 'expired.token');
    await sealedFile({ path, backend: backend() }).save({
      token: 'stale',
      expiresAt: Date.now() - 1,
    });
    const before = issued;
    const source = createTokenSource({
      fetch: upstream,
      persist: sealedFile({ path, backend: backend() }),
    });
    expect(await source.get()).not.toBe('stale');
    expect(issued - before).toBe(1);
    expect((await sealedFile({ path, backend: backend() }).load())?.token).toBe(await source.get());
    source.close();
  });

  it('a file sealed by another backend is refused, saying so, and replaced', async () => {
    const path = join(dir, 'other.token');
    const hsmLike: KeyBackend = { ...localKey({ keys: { k1: key } }), tag: 'pkcs11' };
    await sealedFile({ path, backend: hsmLike }).save({
      token: 'from-hsm',
      expiresAt: Date.now() + 60_000,
    });
    expect(readHeader(await readFile(path)).backend).toBe('pkcs11');
    await expect(sealedFile({ path, backend: backend() }).load()).rejects.toThrow(
      `sealedFile ${path}: sealed by the "pkcs11" backend, but the configured backend is "local"`,
    );
    const warnings: string[] = [];
    const before = issued;
    const source = createTokenSource({
      fetch: upstream,
      persist: sealedFile({ path, backend: backend() }),
      logger: { warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`) },
    });
    const token = await source.get();
    expect(token).not.toBe('from-hsm');
    expect(issued - before).toBe(1);
    expect(warnings.join('\n')).toContain(
      'sealed by the \\"pkcs11\\" backend, but the configured backend is \\"local\\"',
    );
    expect(warnings.join('\n')).not.toContain(token);
    source.close();
  });

  it('a file copied over another path does not open (the path is in the AAD)', async () => {
    const a = join(dir, 'a.token');
    const b = join(dir, 'b.token');
    await sealedFile({ path: a, backend: backend() }).save({
      token: 'only-for-a',
      expiresAt: Date.now() + 60_000,
    });
    await copyFile(a, b);
    await expect(sealedFile({ path: b, backend: backend() }).load()).rejects.toThrow(
      /failed authentication/,
    );
    expect(
      await sealedFile({ path: join(dir, 'missing.token'), backend: backend() }).load(),
    ).toBeUndefined();
  });
});
