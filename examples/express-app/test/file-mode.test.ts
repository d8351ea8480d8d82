// The example in file mode: TOKEN_FILE=./tokens.json instead of a database. Tokens are made and
// revoked with the real CLI (`token create --file`, `token revoke --file`), the app runs as a
// child process, and everything is checked over real HTTP and WebSocket.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ExampleProcess, startExampleProcess } from '@authcache/example-shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

const dir = fileURLToPath(new URL('..', import.meta.url));
const root = fileURLToPath(new URL('../../..', import.meta.url));
const authcache = async (...args: string[]) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 60_000 },
  );
  return stdout;
};

describe('express-app with TOKEN_FILE (no database)', () => {
  let tmp: string;
  let path: string;
  let app: ExampleProcess;
  let token: string;
  let id: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'authcache-example-file-'));
    path = join(tmp, 'tokens.json');
    const created = JSON.parse(
      await authcache(
        'token',
        'create',
        '--file',
        path,
        '--user',
        'demo',
        '--name',
        'demo',
        '--scopes',
        'read',
        '--expires-in',
        '30d',
        '--json',
      ),
    ) as { id: string; token: string };
    ({ id, token } = created);
    app = await startExampleProcess(dir, { TOKEN_FILE: path });
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const me = (bearer?: string) =>
    fetch(`${app.url}/api/me`, bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : {});

  it('starts on the file and says so', () => {
    expect(app.output()).toMatch(
      /express-app listening on http:\/\/\S+ \(store: file .*tokens\.json, 1 tokens\)/,
    );
  });

  it('answers GET /api/me for the token the CLI made; a wrong secret or none is 401', async () => {
    const res = await me(token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      path: 'pat',
      kind: 'pat',
      subject: 'demo',
      tokenId: id,
      scopes: ['read'],
      name: 'demo',
    });
    const wrong = await me(`${token.split('.')[0]}.${'A'.repeat(38)}`);
    expect(wrong.status).toBe(401);
    expect((await me()).status).toBe(401);
    expect(app.output()).not.toContain(token.split('.')[1]);
  });

  it('admits the token on /ws, and a CLI revoke closes the socket and refuses the token', async () => {
    const ws = new WebSocket(`${app.url.replace(/^http/, 'ws')}/ws`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const [welcome] = (await once(ws, 'message')) as [Buffer];
    expect(JSON.parse(welcome.toString())).toMatchObject({
      type: 'welcome',
      identity: { subject: 'demo' },
    });
    const closed = once(ws, 'close');
    expect(await authcache('token', 'revoke', '--file', path, id)).toBe(`revoked pat ${id}\n`);
    const [code] = (await closed) as [number];
    expect(code).toBe(4401);
    expect((await me(token)).status).toBe(401);
  }, 60_000);
});
