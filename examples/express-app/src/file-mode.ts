/**
 * `TOKEN_FILE=./tokens.json`: the same `GET /api/me` and guarded `/ws`, with tokens from a file of
 * `@authcache/file` instead of a database. Tokens are split tokens `mul_<id>.<secret>` whose
 * secrets are kept under scrypt (or argon2, bcrypt, sha-crypt) in the file; create and revoke
 * them with `authcache token create --file` / `authcache token revoke --file`, or edit the file by
 * hand: the server sees a change within a second (`statInterval`) or at once (`watch`).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthCache } from '@authcache/core';
import { me, publicIdentity } from '@authcache/example-shared';
import { patAuth } from '@authcache/express';
import { createFileTokenStore } from '@authcache/file';
import { createUpgradeGuard } from '@authcache/ws';
import express from 'express';
import { jsonErrors } from './app.js';

/** The kinds of a token file made by the CLI: personal access tokens, split. */
export const FILE_TOKEN_KINDS = { pat: { prefix: 'mul_', split: true } } as const;

export async function runFileExample(name: string, path: string) {
  const store = createFileTokenStore({ path, watch: true });
  const auth = createAuthCache({ store, tokenKinds: FILE_TOKEN_KINDS });
  store.attach(auth);

  const app = express();
  app.disable('x-powered-by');
  app.get('/api/me', patAuth({ auth }), (req, res) => {
    const { status, body } = me(req.auth!);
    res.status(status).json(body);
  });
  app.use(jsonErrors);

  const server = createServer(app);
  const guard = createUpgradeGuard({ auth, kinds: ['pat'], path: '/ws' });
  guard.onConnection((ws, identity) => {
    ws.send(JSON.stringify({ type: 'welcome', identity: publicIdentity(identity) }));
  });
  guard.attach(server);
  server.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  console.log(`${name} listening on ${url} (store: file ${path}, ${store.size} tokens)`);
  console.log(`  GET ${url}/api/me · WebSocket ${url.replace(/^http/, 'ws')}/ws`);
  const stop = async () => {
    await guard.close();
    guard.wss.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await auth.close();
    await store.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
