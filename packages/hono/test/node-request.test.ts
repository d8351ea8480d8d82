// The Authorization read on @hono/node-server: straight from the node request's rawHeaders while
// nothing has touched the request's headers, through c.req.header() otherwise. Real Postgres,
// real node-server, real HTTP.
import type { AddressInfo } from 'node:net';
import { openPostgresAuth, type PostgresAuth, requestOverHttp } from '@authcache/conformance';
import { serve } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patAuth } from '../src/index.js';
import { createNodeRequestProbe } from '../src/node-request.js';

let db: PostgresAuth;
let alice: string;
let bob: string;

beforeAll(async () => {
  db = await openPostgresAuth('hono_node_request');
  alice = (await db.store.createPat({ userId: 'alice', name: 'a' })).token;
  bob = (await db.store.createPat({ userId: 'bob', name: 'b' })).token;
});
afterAll(() => db.close());

/** Serves `app` with node-server; `fetch`-like helper over node:http (repeated headers allowed). */
async function listen(app: Hono) {
  let server!: ReturnType<typeof serve>;
  await new Promise<void>((ready) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get: (headers: Record<string, string | string[]>) =>
      requestOverHttp(origin, 'GET', '/me', headers),
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

function appWith(...before: MiddlewareHandler[]) {
  const app = new Hono();
  for (const m of before) app.use(m);
  app.use(patAuth({ auth: db.auth }));
  app.get('/me', (c) => c.json({ subject: c.var.auth?.subject ?? null }));
  return app;
}

/** Counts reads of `headers` on node-server's lazy request, by wrapping its prototype getter. */
function countHeaderReads(): MiddlewareHandler & { count: () => number; restore: () => void } {
  let count = 0;
  let restore = () => {};
  const middleware: MiddlewareHandler = async (c, next) => {
    const proto = Object.getPrototypeOf(c.req.raw) as object;
    const descriptor = Object.getOwnPropertyDescriptor(proto, 'headers');
    if (descriptor?.get && !(descriptor.get as { counted?: true }).counted) {
      const original = descriptor.get;
      const counted = Object.assign(
        function (this: unknown) {
          count++;
          return original.call(this);
        },
        { counted: true as const },
      );
      Object.defineProperty(proto, 'headers', { ...descriptor, get: counted });
      restore = () => Object.defineProperty(proto, 'headers', descriptor);
    }
    await next();
  };
  return Object.assign(middleware, { count: () => count, restore: () => restore() });
}

describe('Authorization on @hono/node-server', () => {
  it('reads rawHeaders without building the request headers, once the probe has learned', async () => {
    const counter = countHeaderReads();
    const server = await listen(appWith(counter));
    try {
      // The first request teaches the probe (it reads headers the ordinary way).
      expect((await server.get({ authorization: `Bearer ${alice}` })).status).toBe(200);
      const before = counter.count();
      for (let i = 0; i < 20; i++) {
        const res = await server.get({ authorization: `Bearer ${i % 2 ? alice : bob}` });
        expect(JSON.parse(res.text)).toEqual({ subject: i % 2 ? 'alice' : 'bob' });
      }
      expect(counter.count() - before).toBe(0);
      // Still the same answers on odd but valid input, and on bad input.
      expect((await server.get({ AUTHORIZATION: `bearer   ${alice}` })).status).toBe(200);
      expect((await server.get({})).status).toBe(401);
      expect((await server.get({ authorization: '' })).status).toBe(401);
      expect((await server.get({ authorization: 'Basic YTpi' })).status).toBe(401);
      const repeated = await server.get({ authorization: [`Bearer ${alice}`, `Bearer ${alice}`] });
      expect(repeated.status).toBe(400);
      expect(counter.count() - before).toBe(0);
    } finally {
      counter.restore();
      await server.close();
    }
  });

  it('a middleware that rewrites Authorization through c.req.raw.headers is honoured', async () => {
    const toBob: MiddlewareHandler = async (c, next) => {
      if (c.req.header('x-as-bob') === '1') c.req.raw.headers.set('authorization', `Bearer ${bob}`);
      await next();
    };
    const server = await listen(appWith(toBob));
    try {
      for (let i = 0; i < 3; i++) {
        const plain = await server.get({ authorization: `Bearer ${alice}` });
        expect(JSON.parse(plain.text)).toEqual({ subject: 'alice' });
        const rewritten = await server.get({ authorization: `Bearer ${alice}`, 'x-as-bob': '1' });
        expect(JSON.parse(rewritten.text)).toEqual({ subject: 'bob' });
      }
    } finally {
      await server.close();
    }
  });

  it('a cookie turned into a bearer token by an earlier middleware is honoured (no header sent)', async () => {
    const fromCookie: MiddlewareHandler = async (c, next) => {
      const cookie = c.req.header('cookie');
      if (cookie?.startsWith('t='))
        c.req.raw.headers.set('authorization', `Bearer ${cookie.slice(2)}`);
      await next();
    };
    const server = await listen(appWith(fromCookie));
    try {
      for (let i = 0; i < 3; i++) {
        expect(JSON.parse((await server.get({ cookie: `t=${bob}` })).text)).toEqual({
          subject: 'bob',
        });
        expect((await server.get({})).status).toBe(401);
      }
    } finally {
      await server.close();
    }
  });

  it('a middleware that deletes Authorization, or replaces the request, is honoured', async () => {
    const strip: MiddlewareHandler = async (c, next) => {
      if (c.req.query('strip') !== undefined) c.req.raw.headers.delete('authorization');
      if (c.req.query('replace') !== undefined) {
        c.req.raw = new Request(c.req.raw.url, { headers: { authorization: `Bearer ${bob}` } });
      }
      await next();
    };
    const app = new Hono();
    app.use(strip);
    app.use(patAuth({ auth: db.auth }));
    app.get('/me', (c) => c.json({ subject: c.var.auth?.subject ?? null }));
    let server!: ReturnType<typeof serve>;
    await new Promise<void>((ready) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready());
    });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = (path: string) =>
      requestOverHttp(origin, 'GET', path, { authorization: `Bearer ${alice}` });
    try {
      for (let i = 0; i < 3; i++) {
        expect(JSON.parse((await get('/me')).text)).toEqual({ subject: 'alice' });
        expect((await get('/me?strip')).status).toBe(401);
        expect(JSON.parse((await get('/me?replace')).text)).toEqual({ subject: 'bob' });
      }
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
  });
});

describe('createNodeRequestProbe', () => {
  const incoming = { headers: {}, rawHeaders: ['Authorization', 'Bearer x'] };

  it('never says untouched before it has learned, nor for a request it cannot read', () => {
    const probe = createNodeRequestProbe();
    expect(probe.untouched({}, incoming)).toBe(false);
    // A request with no lazy headers (a plain object): nothing to learn, and it stays unsure.
    for (let i = 0; i < 20; i++) {
      expect(probe.learnFrom({ headers: new Headers() }, incoming, () => 'v')).toBe('v');
    }
    expect(probe.untouched({}, incoming)).toBe(false);
  });

  it('learns from a lazy request and then tells touched from untouched', () => {
    const incomingKey = Symbol('in');
    const headersKey = Symbol('h');
    const proto = {
      get headers() {
        const self = this as unknown as Record<symbol, unknown>;
        self[headersKey] ??= new Headers();
        return self[headersKey];
      },
    };
    const lazy = () => Object.assign(Object.create(proto), { [incomingKey]: incoming });
    const probe = createNodeRequestProbe();
    const first = lazy();
    probe.learnFrom(first, incoming, () => (first as { headers: Headers }).headers.get('x'));
    const fresh = lazy();
    expect(probe.untouched(fresh, incoming)).toBe(true);
    void (fresh as { headers: Headers }).headers;
    expect(probe.untouched(fresh, incoming)).toBe(false);
    // Another node request's object, or a replaced request, is not this one.
    expect(probe.untouched(lazy(), { ...incoming })).toBe(false);
    expect(probe.untouched(new Request('http://x/'), incoming)).toBe(false);
  });
});
