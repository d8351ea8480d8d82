/**
 * `auth.stats()` as OpenTelemetry observable instruments. One batch callback reads one
 * `auth.stats()` snapshot per collection and observes every instrument from it; nothing runs
 * between collections. Without a registered SDK, `@opentelemetry/api` hands out a no-op meter
 * and the callback never runs. Attributes are `kind`, `tier` and small fixed sets, never a
 * token, a hash or a subject.
 */
import { type AuthCacheStats, type MetricFamily, metricFamilies } from '@authcache/core';
import {
  type BatchObservableCallback,
  type Meter,
  metrics,
  type Observable,
  ValueType,
} from '@opentelemetry/api';

/** Options of {@link createOtelMetrics}. */
export interface OtelMetricsOptions {
  /** Whose `stats()` to export (an `AuthCache`, or anything with the same `stats()`). Required. */
  auth: { stats(): AuthCacheStats };
  /**
   * The meter to create the instruments on. Default: `metrics.getMeter('@authcache/otel')` from
   * the global meter provider (a no-op until an SDK registers one).
   */
  meter?: Meter;
  /**
   * Prepended to every instrument name. Give each auth cache of one meter its own prefix.
   * Default: `'authcache.'`.
   */
  prefix?: string;
}

/** What {@link createOtelMetrics} created. */
export interface OtelMetrics {
  /** The instrument names, e.g. `authcache.hits`. */
  readonly names: readonly string[];
  /** Stops observing: the batch callback is removed from the meter. Idempotent. */
  close(): void;
}

const UNITS: Record<MetricFamily['unit'], string> = { '1': '1', s: 's', '{state}': '{state}' };

/**
 * Creates an observable counter (for counters) or gauge (for gauges) per metric family of
 * `auth.stats()`, observed in one batch callback when the SDK collects.
 */
export function createOtelMetrics(options: OtelMetricsOptions): OtelMetrics {
  const { auth } = options;
  if (!auth || typeof auth.stats !== 'function') {
    throw new TypeError('createOtelMetrics: options.auth with a stats() method is required');
  }
  const meter = options.meter ?? metrics.getMeter('@authcache/otel');
  const prefix = options.prefix ?? 'authcache.';

  const instruments = new Map<string, Observable>();
  for (const family of metricFamilies(auth.stats())) {
    const name = `${prefix}${family.name}`;
    const description = { description: family.help, unit: UNITS[family.unit] };
    instruments.set(
      family.name,
      family.type === 'counter'
        ? meter.createObservableCounter(name, { ...description, valueType: ValueType.INT })
        : meter.createObservableGauge(name, { ...description, valueType: ValueType.DOUBLE }),
    );
  }

  const callback: BatchObservableCallback = (result) => {
    for (const family of metricFamilies(auth.stats())) {
      const instrument = instruments.get(family.name);
      if (!instrument) continue;
      for (const { labels, value } of family.samples) result.observe(instrument, value, labels);
    }
  };
  const observables = [...instruments.values()];
  meter.addBatchObservableCallback(callback, observables);

  let closed = false;
  return {
    names: [...instruments.keys()].map((name) => `${prefix}${name}`),
    close() {
      if (closed) return;
      closed = true;
      meter.removeBatchObservableCallback(callback, observables);
    },
  };
}
