import { countingCalls, openPostgresAuth, type PostgresAuth } from '@authcache/conformance';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, daemonAuth, isAuthError, patAuth } from '../src/index.js';

let db: PostgresAuth;
let pat: string;

beforeAll(async () => {
  db = await openPostgresAuth('express');
  pat = (await db.store.createPat({ userId: 'u1', name: 'n' })).token;
});
afterAll(() => db?.close());

describe('express adapter', () => {
  it("express 5's final handler sends err.status and err.headers", async () => {
    const app = express();
    app.get('/', patAuth({ auth: db.auth }), (_req, res) => {
      res.send('ok');
    });
    const res = await request(app).get('/');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('a custom error handler receives an AuthError it can render as JSON', async () => {
    const app = express();
    app.get('/', daemonAuth({ auth: db.auth, realm: 'daemons' }), (req, res) => {
      res.json({ path: req.auth?.path });
    });
    app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (!(err instanceof AuthError)) return next(err);
      res
        .status(err.status)
        .set(err.headers)
        .json({ error: err.authError.error ?? 'unauthorized' });
    });
    const denied = await request(app).get('/').set('Authorization', 'Bearer mul_nope');
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({ error: 'invalid_token' });
    expect(denied.headers['www-authenticate']).toMatch(
      /^Bearer realm="daemons", error="invalid_token"/,
    );
    const ok = await request(app).get('/').set('Authorization', `Bearer ${pat}`);
    expect(ok.body).toEqual({ path: 'pat' });
  });

  it('a throwing getToken goes to next(err), not a silent pass', async () => {
    const app = express();
    app.get(
      '/',
      patAuth({
        auth: db.auth,
        getToken: () => {
          throw new Error('cookie parser exploded');
        },
      }),
      (_req, res) => {
        res.send('should not run');
      },
    );
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
  });
});

describe('express: one error surface', () => {
  it('isAuthError narrows an unknown error to status, code and headers under --strict', async () => {
    const app = express();
    app.get('/', patAuth({ auth: db.auth }), (_req, res) => {
      res.send('ok');
    });
    app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      if (!isAuthError(err)) return next(err);
      res.status(err.status).set(err.headers).json({ code: err.code, error: err.authError.error });
    });
    const missing = await request(app).get('/');
    expect([missing.status, missing.body]).toEqual([401, { code: 'missing' }]);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="api"');
    const bad = await request(app).get('/').set('Authorization', 'Bearer mul_nope');
    expect([bad.status, bad.body]).toEqual([401, { code: 'invalid', error: 'invalid_token' }]);
    expect(isAuthError(new Error('other'))).toBe(false);
    expect(isAuthError(null)).toBe(false);
  });
});

describe('express adapter on an auth cache with peek', () => {
  it('answers a warm request from peek, without calling resolve', async () => {
    // A token no earlier test warmed: the first request is cold, the next two are warm.
    const cold = (await db.store.createPat({ userId: 'u1', name: 'peek' })).token;
    const { calls, auth } = countingCalls(db.auth);
    const app = express();
    app.get('/', patAuth({ auth }), (req, res) => {
      res.json({ subject: req.auth?.subject, path: req.auth?.path });
    });
    for (let i = 0; i < 3; i++) {
      const res = await request(app).get('/').set('Authorization', `Bearer ${cold}`);
      expect(res.body).toEqual({ subject: 'u1', path: 'pat' });
    }
    expect(calls).toEqual({ peek: 3, resolve: 1 });
  });
});
