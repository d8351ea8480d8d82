// `authcache token create --file` / `token revoke --file`, through the real binary: the tokens it
// prints resolve through a file store, writes keep the file's mode, and two CLI processes
// writing at once never lose a row.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthCache } from '@authcache/core';
import { createFileTokenStore, updateTokenFile } from '@authcache/file';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'authcache-cli-file-'));
  path = join(dir, 'tokens.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rows = () =>
  (JSON.parse(readFileSync(path, 'utf8')) as { tokens: Record<string, unknown>[] }).tokens;

describe('token create / revoke --file', () => {
  it('creates a 0600 file with a scrypt row whose printed token resolves; revoke refuses it', async () => {
    const created = await cli(
      [
        'token',
        'create',
        '--file',
        path,
        '--user',
        'ci',
        '--name',
        'deploys',
        '--scopes',
        'deploy,read',
        '--expires-in',
        '30d',
        '--json',
      ],
      { DATABASE_URL: undefined },
    );
    expect(created.code, created.stderr).toBe(0);
    const out = JSON.parse(created.stdout) as { id: string; token: string; expiresAt: string };
    expect(out.token).toMatch(/^mul_[0-9A-Za-z]{22}\.[0-9A-Za-z]{38}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const [row] = rows();
    expect(row).toMatchObject({
      id: out.id,
      kind: 'pat',
      subject: 'ci',
      scopes: ['deploy', 'read'],
      revoked: false,
      name: 'deploys',
    });
    expect(row!.secretHash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
    // Only the slow hash is in the file, never the secret.
    expect(readFileSync(path, 'utf8')).not.toContain(out.token.split('.')[1]);

    const store = createFileTokenStore({ path, statInterval: 50 });
    const auth = createAuthCache({ store, tokenKinds: { pat: { prefix: 'mul_', split: true } } });
    store.attach(auth);
    const resolved = await auth.resolve('pat', out.token);
    expect(resolved.ok && resolved.identity).toMatchObject({
      subject: 'ci',
      scopes: ['deploy', 'read'],
    });

    const revoked = await cli(['token', 'revoke', '--file', path, out.id], {
      DATABASE_URL: undefined,
    });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked pat ${out.id}\n`);
    expect(rows()[0]!.revoked).toBe(true);
    await store.reload();
    expect(await auth.resolve('pat', out.token)).toEqual({ ok: false, reason: 'invalid' });
    const again = await cli(['token', 'revoke', '--file', path, out.id], {
      DATABASE_URL: undefined,
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no live pat token with the id/);
    await auth.close();
    await store.close();
  }, 60_000);

  it("keeps an existing file's mode and refuses to write over a file it cannot parse", async () => {
    await updateTokenFile(path, () => {});
    chmodSync(path, 0o640);
    const created = await cli(
      [
        'token',
        'create',
        '--file',
        path,
        '--user',
        'u',
        '--name',
        'n',
        '--expires-in',
        'never',
        '--hash',
        'bcrypt',
      ],
      { DATABASE_URL: undefined },
    );
    expect(created.code, created.stderr).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(rows()[0]!.secretHash).toMatch(/^\$2b\$12\$/);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, '{ "version": 1, "tokens": [');
    const refused = await cli(
      ['token', 'create', '--file', path, '--user', 'u', '--name', 'n', '--expires-in', 'never'],
      { DATABASE_URL: undefined },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not valid JSON/);
    expect(readFileSync(path, 'utf8')).toBe('{ "version": 1, "tokens": [');
  }, 60_000);

  it('two CLI processes creating tokens at the same time never lose a row', async () => {
    const create = (n: number) =>
      cli(
        [
          'token',
          'create',
          '--file',
          path,
          '--user',
          `u${n}`,
          '--name',
          `n${n}`,
          '--expires-in',
          'never',
          '--json',
        ],
        {
          DATABASE_URL: undefined,
        },
      );
    const runs = async (from: number) => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const out = await create(from + i);
        expect(out.code, out.stderr).toBe(0);
        ids.push((JSON.parse(out.stdout) as { id: string }).id);
      }
      return ids;
    };
    const [a, b] = await Promise.all([runs(0), runs(100)]);
    const inFile = rows().map((row) => row.id);
    expect(inFile.sort()).toEqual([...a!, ...b!].sort());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(() => statSync(`${path}.lock`)).toThrow(/ENOENT/);
  }, 120_000);
});
