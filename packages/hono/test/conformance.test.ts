import type { AddressInfo } from 'node:net';
import {
  type RouteSpec,
  requestOverHttp,
  runConformance,
  runHeartbeat,
  type TestClient,
} from '@authcache/conformance';
import { serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { bearerAuth, daemonAuth, type HonoBearerAuthOptions, patAuth } from '../src/index.js';

const guards = { bearerAuth, daemonAuth, patAuth };

/** Serves the app with @hono/node-server, so the table runs over real HTTP as for express and koa. */
export async function mountHono(routes: readonly RouteSpec[]): Promise<TestClient> {
  const app = new Hono();
  for (const route of routes) {
    const options = {
      ...(route.options as unknown as HonoBearerAuthOptions),
      ...(route.cookie ? { getToken: (c: Context) => getCookie(c, 'token') } : {}),
      ...(route.skipHeader ? { skip: (c: Context) => c.req.header('x-skip') === '1' } : {}),
    };
    const guard = guards[route.middleware](options as HonoBearerAuthOptions);
    app.on(['GET', 'OPTIONS'], route.path, guard, (c) => c.json({ auth: c.var.auth ?? null }));
  }
  let server!: ReturnType<typeof serve>;
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    request: (method, path, headers) => requestOverHttp(origin, method, path, headers),
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

runConformance({ name: 'hono', mount: mountHono });
runHeartbeat({ name: 'hono', mount: mountHono });
