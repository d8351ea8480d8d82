import {
  type RouteSpec,
  runConformance,
  runHeartbeat,
  type TestClient,
} from '@authcache/conformance';
import express, { type Request } from 'express';
import request from 'supertest';
import { bearerAuth, daemonAuth, type ExpressBearerAuthOptions, patAuth } from '../src/index.js';

const guards = { bearerAuth, daemonAuth, patAuth };

function cookieToken(req: Request): string | undefined {
  const match = /(?:^|;\s*)token=([^;]*)/.exec(req.headers.cookie ?? '');
  return match?.[1];
}

export function mountExpress(routes: readonly RouteSpec[]): TestClient {
  const app = express();
  for (const route of routes) {
    const options = {
      ...(route.options as unknown as ExpressBearerAuthOptions),
      ...(route.cookie ? { getToken: cookieToken } : {}),
      ...(route.skipHeader ? { skip: (req: Request) => req.get('x-skip') === '1' } : {}),
    };
    const guard = guards[route.middleware](options as ExpressBearerAuthOptions);
    app.all(route.path, guard, (req, res) => {
      res.json({ auth: req.auth ?? null });
    });
  }
  return {
    async request(method, path, headers) {
      const res = await request(app)[method.toLowerCase() as 'get' | 'options'](path).set(headers);
      return { status: res.status, headers: res.headers, text: res.text };
    },
  };
}

runConformance({ name: 'express', mount: mountExpress });
runHeartbeat({ name: 'express', mount: mountExpress });
