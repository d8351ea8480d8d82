/**
 * `auth.stats()` as prom-client collectors. Nothing runs between scrapes: each metric's
 * `collect()` reads one `auth.stats()` snapshot (shared by every metric of the same scrape) and
 * sets its values from it. Counters end in `_total`, gauges are gauges; labels are `kind`,
 * `tier` and small fixed sets, never a token, a hash or a subject.
 */
import { type AuthCacheStats, type MetricFamily, metricFamilies } from '@authcache/core';
import {
  Counter,
  register as defaultRegistry,
  Gauge,
  type Registry,
  type RegistryContentType,
} from 'prom-client';

/** A prom-client registry of either exposition format (Prometheus text or OpenMetrics). */
export type AnyRegistry = Registry<RegistryContentType>;

/** Options of {@link createPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Whose `stats()` to export (an `AuthCache`, or anything with the same `stats()`). Required. */
  auth: { stats(): AuthCacheStats };
  /** The prom-client registry to register on. Default: prom-client's global `register`. */
  registry?: AnyRegistry;
  /**
   * Prepended to every metric name. Give each auth cache of one registry its own prefix (two
   * caches cannot share names in one registry). Default: `'authcache_'`.
   */
  prefix?: string;
}

/** What {@link createPrometheusMetrics} registered. */
export interface PrometheusMetrics {
  /** The registry the collectors are on: pass it to a `/metrics` route (or the admin router). */
  readonly registry: AnyRegistry;
  /** The full names of the registered metrics, e.g. `authcache_hits_total`. */
  readonly names: readonly string[];
  /** Removes every collector from the registry. */
  unregister(): void;
}

/** The Prometheus name of a family: prefix, name, unit suffix, `_total` for counters. */
export function prometheusName(
  family: Pick<MetricFamily, 'name' | 'type' | 'unit'>,
  prefix: string,
): string {
  const unit = family.unit === 's' ? '_seconds' : '';
  return `${prefix}${family.name}${unit}${family.type === 'counter' ? '_total' : ''}`;
}

/**
 * Registers collectors for every metric of `auth.stats()` on a prom-client registry. Values are
 * read when the registry is scraped (`registry.metrics()`), never on a timer.
 *
 * @throws if a metric of the same name is already registered (e.g. a second cache with the
 *   same `prefix`).
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  const { auth } = options;
  if (!auth || typeof auth.stats !== 'function') {
    throw new TypeError('createPrometheusMetrics: options.auth with a stats() method is required');
  }
  const registry: AnyRegistry = options.registry ?? defaultRegistry;
  const prefix = options.prefix ?? 'authcache_';

  /** One snapshot per scrape: prom-client calls every `collect()` in the same tick. */
  let snapshot: Map<string, MetricFamily> | undefined;
  const family = (name: string): MetricFamily | undefined => {
    if (snapshot === undefined) {
      snapshot = new Map(metricFamilies(auth.stats()).map((f) => [f.name, f]));
      queueMicrotask(() => {
        snapshot = undefined;
      });
    }
    return snapshot.get(name);
  };

  const names: string[] = [];
  try {
    for (const described of metricFamilies(auth.stats())) {
      const name = prometheusName(described, prefix);
      const config = {
        name,
        help: described.help,
        labelNames: [...described.labelNames],
        registers: [registry],
      };
      if (described.type === 'counter') {
        new Counter({
          ...config,
          collect(this: Counter) {
            this.reset();
            for (const { labels, value } of family(described.name)?.samples ?? []) {
              this.inc(labels, value);
            }
          },
        });
      } else {
        new Gauge({
          ...config,
          collect(this: Gauge) {
            this.reset();
            const samples = family(described.name)?.samples ?? [];
            // A gauge without labels resets to 0; "not known yet" (e.g. bus_lag before any
            // message) must be no sample at all, not a fresh-looking 0.
            if (samples.length === 0 && described.labelNames.length === 0) this.remove({});
            for (const { labels, value } of samples) this.set(labels, value);
          },
        });
      }
      names.push(name);
    }
  } catch (error) {
    for (const name of names) registry.removeSingleMetric(name);
    throw error;
  }

  return {
    registry,
    names,
    unregister() {
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
