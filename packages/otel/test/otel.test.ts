import { createHash } from 'node:crypto';
import { type AuthCache, createAuthCache, generateToken } from '@authcache/core';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createPool, dropSchema, freshSchemaName } from '@authcache/testkit';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOtelMetrics } from '../src/index.js';

// The instruments read through the SDK's in-memory exporter, with a real Postgres store behind
// the auth cache: values move with resolves, counters are monotonic sums, gauges are gauges,
// and no attribute holds a token or a hash.

const schema = freshSchemaName('otel');
let pool: pg.Pool;
let store: PgTokenStore;
let auth: AuthCache;

beforeAll(async () => {
  pool = createPool();
  await migrate(pool, { schema });
  store = createPgTokenStore({ db: pool, schema });
  auth = createAuthCache({ store, logger: { warn() {} } });
});

afterAll(async () => {
  await auth?.close();
  await pool?.end();
  await dropSchema(schema);
});

function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is never reached: the test collects with forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect(): Promise<MetricData[]> {
      exporter.reset();
      await reader.forceFlush();
      return exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics));
    },
  };
}

function point(data: MetricData[], name: string, attributes: Record<string, string> = {}): number {
  const metric = data.find((m) => m.descriptor.name === name);
  if (!metric) throw new Error(`no instrument ${name}`);
  const found = metric.dataPoints.find((p) =>
    Object.entries(attributes).every(([key, v]) => p.attributes[key] === v),
  );
  if (!found) throw new Error(`no point of ${name} with ${JSON.stringify(attributes)}`);
  return found.value as number;
}

describe('createOtelMetrics', () => {
  it('observes every stat through the SDK, counters as sums and gauges as gauges', async () => {
    const { provider, collect } = sdk();
    const otel = createOtelMetrics({ auth, meter: provider.getMeter('test') });
    const { token, id } = await store.createPat({ userId: 'user-1', name: 'otel' });
    const unknown = generateToken('pat');
    const before = await collect();
    for (let i = 0; i < 4; i++) expect((await auth.resolve('pat', token)).ok).toBe(true);
    await auth.resolve('pat', unknown);
    await auth.resolve('pat', 'mul_not-a-token');
    await auth.revoke('pat', id);
    const after = await collect();

    const delta = (name: string, attributes: Record<string, string> = {}) =>
      point(after, name, attributes) - point(before, name, attributes);
    expect(delta('authcache.hits', { kind: 'pat', tier: 'l1' })).toBe(3);
    expect(delta('authcache.misses', { kind: 'pat', tier: 'l1' })).toBe(2);
    expect(delta('authcache.store_queries', { kind: 'pat' })).toBe(2);
    expect(delta('authcache.malformed')).toBe(1);
    expect(delta('authcache.invalidations', { kind: 'pat', source: 'local' })).toBe(1);
    expect(point(after, 'authcache.entries', { tier: 'l1', type: 'tombstone' })).toBe(1);
    expect(point(after, 'authcache.pass_through')).toBe(0);

    const hits = after.find((m) => m.descriptor.name === 'authcache.hits')!;
    expect(hits.dataPointType).toBe(DataPointType.SUM);
    expect(hits.descriptor.description).toMatch(/cache tier/);
    expect(hits.descriptor.unit).toBe('1');
    expect(after.find((m) => m.descriptor.name === 'authcache.entries')!.dataPointType).toBe(
      DataPointType.GAUGE,
    );
    expect(after.length).toBe(otel.names.length - 2); // bus_lag, breaker_state: no point yet

    const hash = createHash('sha256').update(token).digest('hex');
    const dump = JSON.stringify(after);
    for (const secret of [
      token,
      hash,
      unknown,
      createHash('sha256').update(unknown).digest('hex'),
    ]) {
      expect(dump.includes(secret)).toBe(false);
    }
    otel.close();
    otel.close();
    // Closed: nothing is observed any more, whatever the cache does.
    await auth.resolve('pat', unknown);
    const closed = await collect();
    const lastSeen = point(after, 'authcache.negative_hits', { kind: 'pat' });
    // The SDK may still export the last cumulative value, but never a newer one.
    if (closed.some((m) => m.descriptor.name === 'authcache.negative_hits')) {
      expect(point(closed, 'authcache.negative_hits', { kind: 'pat' })).toBe(lastSeen);
    }
    expect(auth.stats().negativeHits).toBe(lastSeen + 1);
    await provider.shutdown();
  });

  it('is a no-op on the global API when no SDK is registered', async () => {
    let calls = 0;
    const otel = createOtelMetrics({
      auth: {
        stats: () => {
          calls++;
          return auth.stats();
        },
      },
    });
    expect(otel.names).toContain('authcache.hits');
    // Only the construction read it (to learn the families); no SDK ever collects.
    expect(calls).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(1);
    otel.close();
    expect(metrics.getMeterProvider().constructor.name).toMatch(/Noop/);
    expect(() => createOtelMetrics({} as never)).toThrow(/auth/);
  });
});
