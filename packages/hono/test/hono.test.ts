import { countingCalls, openPostgresAuth, type PostgresAuth } from '@authcache/conformance';
import { Hono } from 'hono';
import { every, some } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  AuthError,
  bearerAuth,
  daemonAuth,
  isAuthError,
  patAuth,
  type RequestAuth,
  toHttpException,
} from '../src/index.js';

let db: PostgresAuth;
let pat: string;
let daemon: string;

beforeAll(async () => {
  db = await openPostgresAuth('hono');
  pat = (await db.store.createPat({ userId: 'u1', name: 'n', scopes: ['read'] })).token;
  daemon = (await db.store.createDaemonToken({ workspaceId: 'w', daemonId: 'd' })).token;
});
afterAll(() => db?.close());

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

describe('hono/combine', () => {
  it('some(): the first middleware that succeeds wins; all failing → the last error', async () => {
    const app = new Hono();
    app.get('/', some(patAuth({ auth: db.auth }), daemonAuth({ auth: db.auth })), (c) =>
      c.json({ path: c.var.auth?.path }),
    );
    expect(await (await app.request('/', bearer(pat))).json()).toEqual({ path: 'pat' });
    expect(await (await app.request('/', bearer(daemon))).json()).toEqual({ path: 'daemon_token' });
    const denied = await app.request('/');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('WWW-Authenticate')).toBe('Bearer realm="api"');
  });

  it('every(): auth then a scope guard; the auth failure keeps its headers', async () => {
    const app = new Hono();
    app.get(
      '/',
      every(patAuth({ auth: db.auth }), patAuth({ auth: db.auth, scopes: ['admin'] })),
      (c) => c.text('ok'),
    );
    expect((await app.request('/', bearer(pat))).status).toBe(403);
    const missing = await app.request('/');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('WWW-Authenticate')).toBe('Bearer realm="api"');
  });
});

describe('repeated Authorization headers without node underneath (Fetch Headers join them)', () => {
  it.each([
    ['Basic, then a valid bearer header', () => ['Basic dXNlcjpwYXNz', `Bearer ${pat}`]],
    ['the same bearer header twice', () => [`Bearer ${pat}`, `Bearer ${pat}`]],
    ['a valid bearer header, then Basic', () => [`Bearer ${pat}`, 'Basic dXNlcjpwYXNz']],
  ])('%s → 400 invalid_request', async (_name, values) => {
    const app = new Hono();
    app.get('/', patAuth({ auth: db.auth }), (c) => c.json({ subject: c.var.auth.subject }));
    const headers = new Headers();
    for (const value of values()) headers.append('Authorization', value);
    const res = await app.request('/', { headers });
    expect(res.status).toBe(400);
    expect(res.headers.get('WWW-Authenticate')).toMatch(/error="invalid_request"/);
    expect(await res.text()).not.toContain(pat);
  });
});

describe('types and errors', () => {
  it('types c.var.auth from the middleware and from ContextVariableMap', async () => {
    const app = new Hono()
      .get('/typed', patAuth({ auth: db.auth }), (c) => {
        // Required auth: the variable is a RequestAuth, no undefined check needed.
        const subject: string = c.var.auth.subject;
        return c.text(subject);
      })
      .get('/optional', patAuth({ auth: db.auth, required: false }), (c) =>
        c.text(c.var.auth?.subject ?? 'anonymous'),
      );
    expect(await (await app.request('/typed', bearer(pat))).text()).toBe('u1');
    expect(await (await app.request('/optional')).text()).toBe('anonymous');
  });

  it('a custom onError keeps the headers through getResponse()', async () => {
    const app = new Hono();
    app.onError((err) => {
      if ('getResponse' in err) return (err as ReturnType<typeof toHttpException>).getResponse();
      return new Response('boom', { status: 500 });
    });
    app.get('/', bearerAuth({ auth: db.auth, kinds: ['pat'] }), (c) => c.text('ok'));
    const res = await app.request('/', bearer('mul_x'));
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toMatch(/error="invalid_token"/);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/plain/);
  });

  it('throws at creation without an auth cache', () => {
    expect(() => patAuth({} as never)).toThrow(TypeError);
  });
});

describe('hono: one error surface and honest types', () => {
  it('throws an AuthError (an HTTPException) that isAuthError narrows under --strict', async () => {
    const app = new Hono();
    app.use('/*', patAuth({ auth: db.auth }));
    app.get('/', (c) => c.text('ok'));
    app.onError((err, c) => {
      if (!isAuthError(err)) return c.text('boom', 500);
      return c.json(
        { code: err.code, error: err.authError.error ?? null },
        err.status,
        err.headers,
      );
    });
    const missing = await app.request('/');
    expect([missing.status, await missing.json()]).toEqual([401, { code: 'missing', error: null }]);
    expect(missing.headers.get('WWW-Authenticate')).toBe('Bearer realm="api"');
    const bad = await app.request('/', bearer('mul_nope'));
    expect([bad.status, await bad.json()]).toEqual([
      401,
      { code: 'invalid', error: 'invalid_token' },
    ]);
    const thrown = toHttpException({
      status: 503,
      headers: { 'Retry-After': '5' },
      body: 'x',
      reason: 'unavailable',
    });
    expect(thrown).toBeInstanceOf(HTTPException);
    expect(thrown).toBeInstanceOf(AuthError);
    expect([isAuthError(thrown), thrown.code, thrown.getResponse().status]).toEqual([
      true,
      'unavailable',
      503,
    ]);
  });

  it('`required` known only at run time types c.var.auth as optional, and no header is not a 500', async () => {
    const required: boolean = process.env.AUTHCACHE_NEVER_SET === 'yes';
    const app = new Hono();
    app.get('/', patAuth({ auth: db.auth, required }), (c) => {
      expectTypeOf(c.var.auth).toEqualTypeOf<RequestAuth | undefined>();
      return c.json({ subject: c.var.auth?.subject ?? null });
    });
    app.get('/always', patAuth({ auth: db.auth }), (c) => {
      expectTypeOf(c.var.auth).toEqualTypeOf<RequestAuth>();
      return c.json({ subject: c.var.auth.subject });
    });
    const anonymous = await app.request('/');
    expect([anonymous.status, await anonymous.json()]).toEqual([200, { subject: null }]);
    const signedIn = await app.request('/', bearer(pat));
    expect(await signedIn.json()).toEqual({ subject: 'u1' });
    expect((await app.request('/always')).status).toBe(401);
  });
});

describe('hono adapter hot path', () => {
  it('answers a warm request from peek, without calling resolve', async () => {
    // A token no earlier test warmed: the first request is cold, the next two are warm.
    const cold = (await db.store.createPat({ userId: 'u1', name: 'peek' })).token;
    const { calls, auth } = countingCalls(db.auth);
    const app = new Hono();
    app.get('/', patAuth({ auth }), (c) =>
      c.json({ subject: c.var.auth.subject, path: c.var.auth.path }),
    );
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/', bearer(cold));
      expect(await res.json()).toEqual({ subject: 'u1', path: 'pat' });
    }
    const denied = await app.request('/');
    expect(denied.status).toBe(401);
    expect(denied.headers.get('WWW-Authenticate')).toBe('Bearer realm="api"');
    expect(calls).toEqual({ peek: 3, resolve: 1 });
  });

  it('reads one header per request: Access-Control-Request-Method only on OPTIONS', async () => {
    const app = new Hono();
    app.get('/', patAuth({ auth: db.auth }), (c) => c.text(c.var.auth.subject));
    const req = new Request('http://localhost/', bearer(pat));
    const read: string[] = [];
    const get = req.headers.get.bind(req.headers);
    Object.defineProperty(req.headers, 'get', {
      value: (name: string) => {
        read.push(name.toLowerCase());
        return get(name);
      },
    });
    const res = await app.request(req);
    expect(await res.text()).toBe('u1');
    expect(read).toEqual(['authorization']);
  });
});
