import type { Server } from 'node:http';
import {
  type RouteSpec,
  runConformance,
  runHeartbeat,
  type TestClient,
} from '@authcache/conformance';
import Koa, { type Context } from 'koa';
import request from 'supertest';
import { bearerAuth, daemonAuth, type KoaBearerAuthOptions, patAuth } from '../src/index.js';

const guards = { bearerAuth, daemonAuth, patAuth };

export function mountKoa(routes: readonly RouteSpec[]): TestClient {
  const app = new Koa();
  app.silent = true;
  const table = new Map(
    routes.map((route) => {
      const options = {
        ...(route.options as unknown as KoaBearerAuthOptions),
        ...(route.cookie ? { getToken: (ctx: Context) => ctx.cookies.get('token') } : {}),
        ...(route.skipHeader ? { skip: (ctx: Context) => ctx.get('x-skip') === '1' } : {}),
      };
      const guard = guards[route.middleware](options as KoaBearerAuthOptions);
      return [route.path, guard] as const;
    }),
  );
  app.use(async (ctx, next) => {
    const guard = table.get(ctx.path);
    if (!guard) return next();
    await guard(ctx as never, async () => {
      ctx.body = { auth: ctx.state.auth ?? null };
    });
  });
  const server: Server = app.listen(0, '127.0.0.1');
  return {
    async request(method, path, headers) {
      const res = await request(server)
        [method.toLowerCase() as 'get' | 'options'](path)
        .set(headers);
      return { status: res.status, headers: res.headers, text: res.text };
    },
    close: () => new Promise((done) => server.close(() => done())),
  };
}

runConformance({ name: 'koa', mount: mountKoa });
runHeartbeat({ name: 'koa', mount: mountKoa });
