// Split tokens from a file store behind the unchanged adapters, over real HTTP: Express, Koa and
// Hono (patAuth / bearerAuth) and the WebSocket upgrade guard, which also closes a live socket
// once its row is revoked by a hand edit.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type AuthCache, createAuthCache } from '@authcache/core';
import * as expressAdapter from '@authcache/express';
import * as honoAdapter from '@authcache/hono';
import * as koaAdapter from '@authcache/koa';
import { createUpgradeGuard } from '@authcache/ws';
import { serve } from '@hono/node-server';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createFileTokenStore, type FileTokenStore } from '../src/index.js';
import {
  format,
  issue,
  kinds,
  memoryLogger,
  readRows,
  scrypt,
  sleep,
  tempDir,
  writeRows,
} from './support.js';

let tmp: ReturnType<typeof tempDir>;
let path: string;
let store: FileTokenStore;
let auth: AuthCache;
let tokens: Awaited<ReturnType<typeof issue>>[];

beforeAll(async () => {
  tmp = tempDir();
  path = join(tmp.dir, 'tokens.json');
  tokens = await Promise.all([
    issue({ subject: 'alice', scopes: ['read'] }),
    issue({ subject: 'bob' }),
    issue({ subject: 'carol' }),
  ]);
  writeRows(
    path,
    tokens.map((t) => t.row),
  );
  store = createFileTokenStore({ path, statInterval: 100, secretVerifier: scrypt });
  auth = createAuthCache({ store, tokenKinds: kinds, logger: memoryLogger() });
  store.attach(auth);
});
afterAll(async () => {
  await auth.close();
  await store.close();
  tmp.cleanup();
});

async function listening(server: Server): Promise<string> {
  if (!server.listening) await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const get = async (url: string, token?: string) => {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return {
    status: res.status,
    challenge: res.headers.get('www-authenticate'),
    text: await res.text(),
  };
};

/** The same answers from every adapter: who, wrong secret, bad checksum, missing, scope. */
async function checkAdapter(base: string) {
  const [alice] = tokens;
  expect(await get(`${base}/me`, alice!.token)).toMatchObject({
    status: 200,
    text: '{"subject":"alice"}',
  });
  const wrong = await get(`${base}/me`, `mul_${alice!.id}.${format.generateSplit('pat').secret}`);
  expect([wrong.status, wrong.challenge]).toEqual([
    401,
    expect.stringMatching(/^Bearer realm=.*error="invalid_token"/),
  ]);
  const typo = alice!.token.slice(0, -1) + (alice!.token.endsWith('a') ? 'b' : 'a');
  // A typo fails the offline checksum: 401 invalid_token (RFC 6750 §3.1), no lookup.
  expect((await get(`${base}/me`, typo)).status).toBe(401);
  expect((await get(`${base}/me`)).status).toBe(401);
  expect((await get(`${base}/admin`, alice!.token)).status).toBe(403);
  expect(await get(`${base}/bearer`, alice!.token)).toMatchObject({
    status: 200,
    text: '{"subject":"alice"}',
  });
  for (const body of [wrong.text]) expect(body).not.toContain(alice!.secret);
}

describe('split tokens behind the adapters', () => {
  it('Express: patAuth and bearerAuth', async () => {
    const app = express();
    const who = (req: Request, res: Response) => void res.json({ subject: req.auth!.subject });
    app.get('/me', expressAdapter.patAuth({ auth }), who);
    app.get('/admin', expressAdapter.patAuth({ auth, scopes: ['admin'] }), who);
    app.get('/bearer', expressAdapter.bearerAuth({ auth, kinds: ['pat'] }), who);
    app.use(
      (error: expressAdapter.AuthError, _req: Request, res: Response, _next: NextFunction) => {
        res.status(error.status).set(error.headers).json({ error: error.code });
      },
    );
    const server = app.listen(0, '127.0.0.1');
    await checkAdapter(await listening(server));
    server.close();
  });

  it('Koa: patAuth and bearerAuth', async () => {
    const app = new Koa();
    const router = async (ctx: Koa.Context, next: Koa.Next) => {
      const guard =
        ctx.path === '/me'
          ? koaAdapter.patAuth({ auth })
          : ctx.path === '/admin'
            ? koaAdapter.patAuth({ auth, scopes: ['admin'] })
            : koaAdapter.bearerAuth({ auth, kinds: ['pat'] });
      await guard(ctx, async () => {
        ctx.body = { subject: ctx.state.auth.subject };
      });
      await next();
    };
    app.use(router);
    const server = app.listen(0, '127.0.0.1');
    await checkAdapter(await listening(server));
    server.close();
  });

  it('Hono: patAuth and bearerAuth', async () => {
    const app = new Hono();
    app.get('/me', honoAdapter.patAuth({ auth }), (c) => c.json({ subject: c.var.auth.subject }));
    app.get('/admin', honoAdapter.patAuth({ auth, scopes: ['admin'] }), (c) =>
      c.json({ subject: c.var.auth.subject }),
    );
    app.get('/bearer', honoAdapter.bearerAuth({ auth, kinds: ['pat'] }), (c) =>
      c.json({ subject: c.var.auth.subject }),
    );
    const server = await new Promise<Server>((ready) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
        ready(s as Server),
      );
    });
    await checkAdapter(await listening(server));
    server.close();
  });

  it('the WebSocket guard admits a split token, refuses a wrong secret, and closes the socket (4401) when the row is revoked in the file', async () => {
    const guard = createUpgradeGuard({ auth, kinds: ['pat'], path: '/ws' });
    guard.onConnection((ws, identity) => ws.send(JSON.stringify({ subject: identity.subject })));
    const server = createServer((_req, res) => res.writeHead(404).end());
    guard.attach(server);
    server.listen(0, '127.0.0.1');
    const url = `${(await listening(server)).replace('http', 'ws')}/ws`;
    const [, bob] = tokens;

    const refused = new WebSocket(url, {
      headers: { authorization: `Bearer mul_${bob!.id}.${format.generateSplit('pat').secret}` },
    });
    const [, response] = (await once(refused, 'unexpected-response')) as [
      unknown,
      { statusCode: number },
    ];
    expect(response.statusCode).toBe(401);

    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${bob!.token}` } });
    const [hello] = (await once(ws, 'message')) as [Buffer];
    expect(JSON.parse(hello.toString())).toEqual({ subject: 'bob' });
    const closed = once(ws, 'close');
    const rows = readRows(path);
    writeRows(
      path,
      rows.map((row) => (row.id === bob!.id ? { ...row, revoked: true } : row)),
    );
    const [code] = (await Promise.race([closed, sleep(10_000).then(() => ['timeout'])])) as [
      number | string,
    ];
    expect(code).toBe(4401); // CLOSE_UNAUTHORIZED
    await guard.close();
    guard.wss.close();
    server.closeAllConnections();
    server.close();
  });
});
