import type { Server } from 'node:http';
import { countingCalls, openPostgresAuth, type PostgresAuth } from '@authcache/conformance';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthState, daemonAuth, isAuthError, patAuth } from '../src/index.js';

let db: PostgresAuth;
let pat: string;
let daemon: string;

beforeAll(async () => {
  db = await openPostgresAuth('koa');
  pat = (await db.store.createPat({ userId: 'u1', name: 'n' })).token;
  daemon = (await db.store.createDaemonToken({ workspaceId: 'w', daemonId: 'd' })).token;
});
afterAll(() => db?.close());

function serve(app: Koa<AuthState>): Server {
  app.silent = true;
  return app.listen(0, '127.0.0.1');
}

describe('koa adapter', () => {
  it('passthrough: failures reach the next middleware with authError, no identity', async () => {
    const app = new Koa<AuthState>();
    app.use(patAuth({ auth: db.auth, passthrough: true }));
    app.use((ctx) => {
      ctx.body = {
        auth: ctx.state.auth?.subject ?? null,
        error: ctx.state.authError?.status ?? null,
      };
    });
    const server = serve(app);
    try {
      expect((await request(server).get('/')).body).toEqual({ auth: null, error: 401 });
      expect((await request(server).get('/').set('Authorization', 'Bearer')).body).toEqual({
        auth: null,
        error: 400,
      });
      expect((await request(server).get('/').set('Authorization', `Bearer ${pat}`)).body).toEqual({
        auth: 'u1',
        error: null,
      });
    } finally {
      server.close();
    }
  });

  it('headers survive an upstream error handler that rethrows', async () => {
    const app = new Koa<AuthState>();
    const seen: number[] = [];
    app.use(async (_ctx, next) => {
      try {
        await next();
      } catch (error) {
        seen.push((error as { status: number }).status);
        throw error;
      }
    });
    app.use(daemonAuth({ auth: db.auth }));
    app.use((ctx) => {
      ctx.body = ctx.state.auth?.path;
    });
    const server = serve(app);
    try {
      const ok = await request(server).get('/').set('Authorization', `Bearer ${daemon}`);
      expect(ok.text).toBe('daemon_token');
      const denied = await request(server).get('/').set('Authorization', 'Bearer mul_nope');
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toMatch(
        /^Bearer realm="api", error="invalid_token"/,
      );
      expect(denied.text).toBe('The access token is invalid');
      expect(seen).toEqual([401]);
    } finally {
      server.close();
    }
  });
});

describe('koa: one error surface', () => {
  it('throws an AuthError that isAuthError narrows (status, code, headers) under --strict', async () => {
    const app = new Koa<AuthState>();
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err: unknown) {
        if (!isAuthError(err)) throw err;
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = { code: err.code, error: err.authError.error ?? null };
      }
    });
    app.use(patAuth({ auth: db.auth }));
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const server = serve(app);
    try {
      const missing = await request(server).get('/');
      expect([missing.status, missing.body]).toEqual([401, { code: 'missing', error: null }]);
      expect(missing.headers['www-authenticate']).toBe('Bearer realm="api"');
      const bad = await request(server).get('/').set('Authorization', 'Bearer mul_nope');
      expect([bad.status, bad.body]).toEqual([401, { code: 'invalid', error: 'invalid_token' }]);
    } finally {
      server.close();
    }
  });

  it("without a handler of the app's own, koa answers the AuthError's status, headers and message", async () => {
    const app = new Koa<AuthState>();
    app.use(patAuth({ auth: db.auth }));
    const server = serve(app);
    try {
      const res = await request(server).get('/').set('Authorization', 'Bearer mul_nope');
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(res.text).toBe('The access token is invalid');
    } finally {
      server.close();
    }
  });
});

describe('koa adapter on an auth cache with peek', () => {
  it('answers a warm request from peek, without calling resolve', async () => {
    // A token no earlier test warmed: the first request is cold, the next two are warm.
    const cold = (await db.store.createPat({ userId: 'u1', name: 'peek' })).token;
    const { calls, auth } = countingCalls(db.auth);
    const app = new Koa<AuthState>();
    app.use(patAuth({ auth }));
    app.use((ctx) => {
      ctx.body = { subject: ctx.state.auth?.subject, path: ctx.state.auth?.path };
    });
    const server = serve(app);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await request(server).get('/').set('Authorization', `Bearer ${cold}`);
        expect(res.body).toEqual({ subject: 'u1', path: 'pat' });
      }
      // A rejection on the synchronous path still becomes koa's 401 with its challenge.
      const denied = await request(server).get('/');
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toBe('Bearer realm="api"');
    } finally {
      server.close();
    }
    expect(calls).toEqual({ peek: 3, resolve: 1 });
  });
});
