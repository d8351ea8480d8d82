import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromCommand, fromFile, jwtExpiry, TokenUnavailableError } from '@authcache/outbound';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'authcache-outbound-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jwt = (exp: number) =>
  ['e30', Buffer.from(JSON.stringify({ sub: 'x', exp })).toString('base64url'), 'sig'].join('.');

async function until(check: () => Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('fromFile', () => {
  it('serves the file from memory and re-reads it when it changes (rewrite, atomic rename)', async () => {
    const path = join(dir, 'token');
    writeFileSync(path, 'mdt_first\n');
    const source = fromFile(path, { watchInterval: 20 });
    expect(await source.get()).toBe('mdt_first');
    expect(await source.get()).toBe('mdt_first');
    expect(source.stats().fetches).toBe(1);
    writeFileSync(path, 'mdt_second_longer\n');
    await until(async () => (await source.get()) === 'mdt_second_longer');
    // Kubernetes swaps projected tokens by renaming a new file into place (a new inode).
    writeFileSync(join(dir, 'token.new'), 'mdt_third_one_xx\n');
    renameSync(join(dir, 'token.new'), path);
    await until(async () => (await source.get()) === 'mdt_third_one_xx');
    expect(source.stats().fetches).toBe(3);
    source.close();
  });

  it('uses a JWT’s exp as the expiry', async () => {
    const exp = Math.floor(Date.now() / 1000) + 120;
    const path = join(dir, 'jwt');
    writeFileSync(path, jwt(exp));
    const source = fromFile(path, { watchInterval: 0 });
    await source.get();
    const left = source.stats().expiresInMs;
    expect(left).toBeGreaterThan(110_000);
    expect(left).toBeLessThanOrEqual(120_000);
    expect(jwtExpiry(jwt(exp))).toBe(exp * 1000);
    expect(jwtExpiry('mdt_abc')).toBeUndefined();
    source.close();
  });

  it('a missing or empty file is a typed error, never an empty token', async () => {
    const source = fromFile(join(dir, 'missing'), { watchInterval: 0 });
    await expect(source.get()).rejects.toBeInstanceOf(TokenUnavailableError);
    source.close();
    writeFileSync(join(dir, 'empty'), '\n');
    const empty = fromFile(join(dir, 'empty'), { watchInterval: 0 });
    const error = (await empty.get().catch((e: unknown) => e)) as TokenUnavailableError;
    expect((error.cause as { code: string }).code).toBe('INVALID_TOKEN_RESULT');
    empty.close();
  });
});

describe('fromCommand', () => {
  it('takes a plain token, or JSON with access_token and expires_in', async () => {
    const plain = fromCommand(process.execPath, ['-e', 'console.log("opaque-1")'], { ttl: 60_000 });
    expect(await plain.get()).toBe('opaque-1');
    expect(plain.stats().expiresInMs).toBeGreaterThan(50_000);
    plain.close();
    const json = fromCommand(process.execPath, [
      '-e',
      'console.log(JSON.stringify({ access_token: "from-json", expires_in: 3600 }))',
    ]);
    expect(await json.get()).toBe('from-json');
    expect(json.stats().expiresInMs).toBeGreaterThan(3_500_000);
    json.close();
  });

  it('a failing command is a typed error that does not contain its output', async () => {
    const source = fromCommand(process.execPath, [
      '-e',
      'console.log("secret-ish"); process.exit(3)',
    ]);
    const error = (await source.get().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(error).toBeInstanceOf(TokenUnavailableError);
    expect(String((error.cause as Error).message)).not.toContain('secret-ish');
    source.close();
  });
});
