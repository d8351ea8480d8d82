import {
  type RouteSpec,
  runConformance,
  runHeartbeat,
  type TestClient,
} from '@authcache/conformance';
import { type Context, Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { bearerAuth, daemonAuth, type HonoBearerAuthOptions, patAuth } from '../src/index.js';

const guards = { bearerAuth, daemonAuth, patAuth };

export function mountHono(routes: readonly RouteSpec[]): TestClient {
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
  return {
    async request(method, path, headers) {
      const res = await app.request(path, { method, headers });
      return {
        status: res.status,
        headers: Object.fromEntries(res.headers.entries()),
        text: await res.text(),
      };
    },
  };
}

runConformance({ name: 'hono', mount: mountHono });
runHeartbeat({ name: 'hono', mount: mountHono });
