import type { AddressInfo } from 'node:net';
import { openPostgresAuth, type PostgresAuth } from '@authcache/conformance';
import { serve, upgradeWebSocket } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { patAuth } from '../src/index.js';

let db: PostgresAuth;
let pat: string;
let server: ReturnType<typeof serve>;
let url: string;

beforeAll(async () => {
  db = await openPostgresAuth('hono_ws');
  pat = (await db.store.createPat({ userId: 'u-ws', name: 'n' })).token;
  const app = new Hono();
  app.get(
    '/ws',
    patAuth({ auth: db.auth }),
    upgradeWebSocket((c) => {
      // upgradeWebSocket's callback is typed with hono's ContextVariableMap, where auth is optional.
      const auth = c.var.auth;
      return {
        onOpen(_event, ws) {
          ws.send(JSON.stringify({ subject: auth?.subject, path: auth?.path }));
        },
      };
    }),
  );
  const wss = new WebSocketServer({ noServer: true });
  await new Promise<void>((ready) => {
    server = serve(
      { fetch: app.fetch, port: 0, hostname: '127.0.0.1', websocket: { server: wss } },
      () => ready(),
    );
  });
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
});
afterAll(async () => {
  await new Promise((done) => server?.close(done));
  await db?.close();
});

describe('in front of upgradeWebSocket on @hono/node-server v2', () => {
  it('a valid token upgrades and the handler sees c.var.auth', async () => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${pat}` } });
    const message = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
    });
    ws.close();
    expect(JSON.parse(message)).toEqual({ subject: 'u-ws', path: 'pat' });
  });

  it.each([
    ['no token', {}, 401, 'Bearer realm="api"'],
    ['a malformed header', { Authorization: 'Bearer' }, 400, /error="invalid_request"/],
    ['an unknown token', { Authorization: 'Bearer mul_nope' }, 401, /error="invalid_token"/],
  ])(
    '%s: the upgrade is refused with an HTTP answer',
    async (_name, headers, status, challenge) => {
      const ws = new WebSocket(url, { headers });
      // terminate() before the handshake completes emits an error; it is the expected end here.
      ws.on('error', () => {});
      const res = await new Promise<{ statusCode?: number; headers: Record<string, unknown> }>(
        (resolve, reject) => {
          ws.once('unexpected-response', (_req, response) => {
            resolve(response);
            response.destroy();
          });
          ws.once('open', () => reject(new Error('upgraded without a valid token')));
        },
      );
      ws.terminate();
      expect(res.statusCode).toBe(status);
      if (typeof challenge === 'string') expect(res.headers['www-authenticate']).toBe(challenge);
      else expect(res.headers['www-authenticate']).toMatch(challenge);
    },
  );

  it('two Authorization headers: the upgrade is refused with 400, as on express and koa', async () => {
    // @hono/node-server joins them into "Basic …, Bearer …"; node's rawHeaders says there were two.
    const ws = new WebSocket(url, {
      headers: { Authorization: ['Basic dXNlcjpwYXNz', `Bearer ${pat}`] },
    });
    ws.on('error', () => {});
    const res = await new Promise<{ statusCode?: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        ws.once('unexpected-response', (_req, response) => {
          resolve(response);
          response.destroy();
        });
        ws.once('open', () => reject(new Error('upgraded with two Authorization headers')));
      },
    );
    ws.terminate();
    expect(res.statusCode).toBe(400);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="invalid_request", error_description="More than one Authorization header"',
    );
  });
});
