import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AuthCache, createAuthCache, generateToken, metricFamilies } from '@authcache/core';
import { createPgBus, createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createPool, dropSchema, freshSchemaName } from '@authcache/testkit';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type pg from 'pg';
import { type OpenMetricsContentType, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrometheusMetrics } from '../src/index.js';

// End to end against real Postgres: an HTTP server authenticates requests with a real store and
// serves the registry at /metrics; each scrape is fetched over HTTP and parsed by a real parser
// (parse-prometheus-text-format). Counters move with the traffic; no token or hash appears
// anywhere in the exposition.

const schema = freshSchemaName('prometheus');
let pool: pg.Pool;
let store: PgTokenStore;
let auth: AuthCache;
let registry: Registry;
let server: Server;
let base: string;

beforeAll(async () => {
  pool = createPool();
  await migrate(pool, { schema });
  store = createPgTokenStore({ db: pool, schema });
  auth = createAuthCache({ store, maxEntries: 2, logger: { warn() {} } });
  registry = new Registry();
  createPrometheusMetrics({ auth, registry });
  server = createServer(async (req, res) => {
    if (req.url === '/metrics') {
      res.setHeader('Content-Type', registry.contentType);
      res.end(await registry.metrics());
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const result = await auth.resolve('pat', token);
    res.statusCode = result.ok ? 200 : result.reason === 'unavailable' ? 503 : 401;
    res.end(result.ok ? result.identity.subject : result.reason);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await auth?.close();
  await pool?.end();
  await dropSchema(schema);
});

type Scrape = ReturnType<typeof parsePrometheusTextFormat>;

async function scrape(): Promise<{ text: string; parsed: Scrape; contentType: string }> {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return {
    text,
    parsed: parsePrometheusTextFormat(text),
    contentType: response.headers.get('content-type') ?? '',
  };
}

function value(parsed: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = parsed.find((f) => f.name === name);
  if (!family) throw new Error(`no metric ${name}`);
  const sample = family.metrics.find((m) =>
    Object.entries(labels).every(([key, v]) => m.labels?.[key] === v),
  );
  if (!sample) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return Number(sample.value);
}

const get = (token: string) =>
  fetch(`${base}/api`, { headers: { Authorization: `Bearer ${token}` } });

describe('createPrometheusMetrics', () => {
  it('exposes every family with its type: counters end in _total, gauges are gauges', async () => {
    const { parsed, contentType } = await scrape();
    expect(contentType).toContain('text/plain');
    const described = metricFamilies(auth.stats());
    // bus_lag and breaker_state have no sample without a bus or tier; every other family shows.
    for (const family of described.filter((f) => f.samples.length > 0)) {
      const found = parsed.filter((f) => f.name.startsWith(`authcache_${family.name}`));
      expect(found.length, family.name).toBeGreaterThan(0);
    }
    for (const family of parsed) {
      expect(family.name).toMatch(/^authcache_[a-z_]+$/);
      expect(family.help.length).toBeGreaterThan(10);
      if (family.type === 'COUNTER') expect(family.name).toMatch(/_total$/);
      else {
        expect(family.type).toBe('GAUGE');
        expect(family.name).not.toMatch(/_total$/);
      }
    }
    expect(value(parsed, 'authcache_hits_total', { kind: 'pat', tier: 'l1' })).toBe(0);
    expect(value(parsed, 'authcache_entries', { tier: 'l1', type: 'positive' })).toBe(0);
    expect(value(parsed, 'authcache_pass_through')).toBe(0);
  });

  it('counters move with real traffic, and no label or value holds a token or a hash', async () => {
    const made = await Promise.all(
      ['a', 'b', 'c'].map((name) => store.createPat({ userId: `user-${name}`, name })),
    );
    const [first, second, third] = made.map((m) => m.token) as [string, string, string];
    const before = (await scrape()).parsed;
    for (let i = 0; i < 3; i++) expect((await get(first)).status).toBe(200);
    expect((await get(second)).status).toBe(200);
    expect((await get(third)).status).toBe(200); // maxEntries 2: evicts `first`
    const unknown = generateToken('pat'); // well-formed, in no table
    await get(unknown);
    await get(unknown);
    expect((await get('mul_garbage')).status).toBe(401);
    await auth.revoke('pat', made[1]!.id);
    expect((await get(second)).status).toBe(401);
    await auth.flushTouches();

    const { text, parsed } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(parsed, name, labels) - value(before, name, labels);
    expect(delta('authcache_hits_total', { kind: 'pat', tier: 'l1' })).toBe(2);
    expect(delta('authcache_misses_total', { kind: 'pat', tier: 'l1' })).toBe(4);
    expect(delta('authcache_store_queries_total', { kind: 'pat' })).toBe(4);
    expect(delta('authcache_store_errors_total', { kind: 'pat' })).toBe(0);
    expect(delta('authcache_negative_hits_total', { kind: 'pat' })).toBe(2);
    expect(delta('authcache_malformed_total')).toBe(1);
    expect(delta('authcache_evictions_total', { kind: 'pat', type: 'positive' })).toBe(1);
    expect(delta('authcache_invalidations_total', { kind: 'pat', source: 'local' })).toBe(1);
    expect(delta('authcache_touches_queued_total')).toBe(3);
    expect(delta('authcache_touches_written_total')).toBe(3);
    expect(delta('authcache_touch_batches_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(value(parsed, 'authcache_entries', { tier: 'l1', type: 'tombstone' })).toBe(1);
    expect(value(parsed, 'authcache_entries', { tier: 'l1', type: 'positive' })).toBe(1);

    // Nothing secret anywhere: not the tokens, not their SHA-256 hashes, in any form.
    for (const token of [first, second, third, unknown]) {
      const hash = createHash('sha256').update(token).digest('hex');
      expect(store.hashToken(token)).toBe(hash);
      for (const secret of [token, hash, token.slice(4), hash.slice(0, 16)]) {
        expect(text.includes(secret), 'a token or hash in the exposition').toBe(false);
      }
    }
    const labelValues = parsed.flatMap((f) =>
      f.metrics.flatMap((m) => Object.values(m.labels ?? {})),
    );
    const allowed =
      /^(pat|daemon|l1|l2|local|bus|ok|failed|dropped|skipped|positive|negative|tombstone|tier|token|subject|kind|access_key|all|)$/;
    for (const label of labelValues) expect(label).toMatch(allowed);
  });

  it('shows the Postgres bus: connected, lag after a message, and a SQL revoke heard on it', async () => {
    const withBus = createAuthCache({
      store,
      bus: createPgBus({ pool, schema, logger: { warn() {} } }),
      logger: { warn() {} },
    });
    const own = new Registry();
    createPrometheusMetrics({ auth: withBus, registry: own });
    try {
      await withBus.ready();
      const idle = parsePrometheusTextFormat(await own.metrics());
      expect(value(idle, 'authcache_buses')).toBe(1);
      expect(value(idle, 'authcache_buses_connected')).toBe(1);
      // Nothing heard yet: no lag sample rather than a made-up number.
      expect(idle.find((f) => f.name === 'authcache_bus_lag_seconds')?.metrics ?? []).toEqual([]);
      const { token, id } = await store.createPat({ userId: 'user-bus', name: 'bus' });
      expect((await withBus.resolve('pat', token)).ok).toBe(true);
      const heard = new Promise<void>((resolve) => {
        const off = withBus.onInvalidate(() => {
          off();
          resolve();
        });
      });
      await pool.query(
        `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
        [id],
      );
      await heard;
      const text = await own.metrics();
      const after = parsePrometheusTextFormat(text);
      expect(value(after, 'authcache_invalidations_total', { kind: 'pat', source: 'bus' })).toBe(1);
      const lag = value(after, 'authcache_bus_lag_seconds');
      expect(lag).toBeGreaterThanOrEqual(0);
      expect(lag).toBeLessThan(60);
      expect(after.find((f) => f.name === 'authcache_bus_lag_seconds')?.type).toBe('GAUGE');
      expect(text).not.toContain(store.hashToken(token));
      expect(text).not.toContain(token);
    } finally {
      await withBus.close();
    }
  });

  it('reads one snapshot per scrape, and nothing between scrapes', async () => {
    let calls = 0;
    const counted = {
      stats: () => {
        calls++;
        return auth.stats();
      },
    };
    const own = new Registry();
    createPrometheusMetrics({ auth: counted, registry: own });
    calls = 0;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls).toBe(0);
    await own.metrics();
    expect(calls).toBe(1);
    await own.metrics();
    expect(calls).toBe(2);
  });

  it('works with an OpenMetrics registry and refuses a second cache under the same prefix', async () => {
    const open = new Registry<OpenMetricsContentType>();
    open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const metrics = createPrometheusMetrics({ auth, registry: open, prefix: 'api_auth_' });
    expect(metrics.names).toContain('api_auth_hits_total');
    const text = await open.metrics();
    expect(text).toMatch(/^# TYPE api_auth_hits counter$/m);
    expect(text).toMatch(/^api_auth_hits_total\{kind="pat",tier="l1"\} \d+$/m);
    expect(() => createPrometheusMetrics({ auth, registry: open, prefix: 'api_auth_' })).toThrow(
      /already been registered/,
    );
    // The failed second registration left the first one whole.
    expect(open.getMetricsAsArray().length).toBe(metrics.names.length);
    metrics.unregister();
    expect(open.getMetricsAsArray().length).toBe(0);
    expect(() => createPrometheusMetrics({} as never)).toThrow(/auth/);
  });
});
