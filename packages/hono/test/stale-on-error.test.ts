import {
  type CuttableProxy,
  createPool,
  dropSchema,
  freshSchemaName,
  startProxy,
} from '@authcache/conformance';
import { createAuthCache } from '@authcache/core';
import { createPgTokenStore, migrate } from '@authcache/pg';
import { Hono } from 'hono';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patAuth } from '../src/index.js';

// Over HTTP (hono's app.request): during a Postgres outage a recently ended identity answers
// 200 for at most staleIfError; past it, and for a token never seen, the answer is still 503
// with Retry-After, never 401. Real Postgres behind testkit's proxy; the resolver's clock is
// injected.

let schema: string;
let admin: pg.Pool;
let viaProxy: pg.Pool;
let proxy: CuttableProxy;

beforeAll(async () => {
  schema = freshSchemaName('hono_stale');
  admin = createPool();
  await migrate(admin, { schema });
  proxy = await startProxy();
  viaProxy = createPool({ connectionString: proxy.url, connectionTimeoutMillis: 500 });
});

afterAll(async () => {
  await viaProxy?.end();
  await proxy?.close();
  await admin?.end();
  await dropSchema(schema);
});

describe('hono patAuth with staleIfError during a store outage', () => {
  it('200 within the bound, then 503 with Retry-After; an unseen token is 503 throughout', async () => {
    let now = Date.now();
    const auth = createAuthCache({
      store: createPgTokenStore({ db: viaProxy, schema }),
      clock: () => now,
      ttl: 10_000,
      ttlJitter: 0,
      staleIfError: 20_000,
      storeTimeoutMs: 1_000,
      logger: { warn() {} },
    });
    const seeder = createPgTokenStore({ db: admin, schema });
    const seen = await seeder.createPat({ userId: 'u1', name: 'seen' });
    const unseen = await seeder.createPat({ userId: 'u1', name: 'unseen' });
    const app = new Hono();
    app.get('/', patAuth({ auth }), (c) => c.json({ subject: c.var.auth?.subject }));
    const get = (token: string) =>
      app.request('/', { headers: { Authorization: `Bearer ${token}` } });
    try {
      expect((await get(seen.token)).status).toBe(200);
      proxy.cut();
      now += 10_000; // ended
      const stale = await get(seen.token);
      expect(stale.status).toBe(200);
      expect(await stale.json()).toEqual({ subject: 'u1' });
      const cold = await get(unseen.token);
      expect(cold.status).toBe(503);
      expect(cold.headers.get('Retry-After')).not.toBeNull();
      now += 20_000; // past the bound
      const past = await get(seen.token);
      expect(past.status).toBe(503);
      expect(past.headers.get('Retry-After')).not.toBeNull();
      expect(auth.stats()).toMatchObject({ staleHits: 1 });
    } finally {
      proxy.restore();
      await auth.close();
    }
  });
});
