/**
 * `auth.stats()` as metric families: one name, type, help and label set each, the way
 * Prometheus and OpenTelemetry model them. The exporters (`@authcache/prometheus`,
 * `@authcache/otel`) and the admin surface all read this one description, so a metric has the
 * same meaning everywhere. Labels are only `kind` (a token kind name), `tier`, and small fixed
 * sets (`source`, `outcome`, `type`, `target`): never a token, a hash or a subject.
 */
import type { AuthCacheStats, KindStats } from './stats.js';

export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  /** snake_case, without prefix or unit suffix: `hits`, `store_queries`, `bus_lag`. */
  readonly name: string;
  /** A counter only grows (until the process restarts); a gauge is a current value. */
  readonly type: 'counter' | 'gauge';
  /** Unit of the value: `1` (a count), `s` (seconds), or `{state}` for an enumeration. */
  readonly unit: '1' | 's' | '{state}';
  readonly help: string;
  /** The label names every sample of this family carries. */
  readonly labelNames: readonly string[];
  readonly samples: readonly MetricSample[];
}

type Family = Omit<MetricFamily, 'samples' | 'unit'> & { unit?: MetricFamily['unit'] };

function perKind(
  stats: AuthCacheStats,
  field: keyof KindStats,
  extra: Record<string, string> = {},
): MetricSample[] {
  return Object.entries(stats.byKind).map(([kind, counters]) => ({
    labels: { kind, ...extra },
    value: counters[field],
  }));
}

/**
 * The families of one `auth.stats()` snapshot, always the same names and label sets (a sample
 * list may be empty: e.g. `bus_lag` when no bus has received anything yet).
 */
export function metricFamilies(stats: AuthCacheStats): MetricFamily[] {
  const families: MetricFamily[] = [];
  const add = (family: Family, samples: MetricSample[]) =>
    families.push({ unit: '1', ...family, samples });
  const one = (value: number, labels: Record<string, string> = {}) => [{ labels, value }];

  // Lookups, per kind.
  add(
    {
      name: 'hits',
      type: 'counter',
      help: 'Resolves answered from a cache tier (l1: in-process, l2: shared).',
      labelNames: ['kind', 'tier'],
    },
    [...perKind(stats, 'hits', { tier: 'l1' }), ...perKind(stats, 'l2Hits', { tier: 'l2' })],
  );
  add(
    {
      name: 'misses',
      type: 'counter',
      help: 'Resolves that a cache tier could not answer (l1 misses go on to l2 or the store).',
      labelNames: ['kind', 'tier'],
    },
    [...perKind(stats, 'misses', { tier: 'l1' }), ...perKind(stats, 'l2Misses', { tier: 'l2' })],
  );
  add(
    {
      name: 'stale_hits',
      type: 'counter',
      help: 'Resolves answered from an ended L1 entry because the store was unreachable (staleIfError).',
      labelNames: ['kind'],
    },
    perKind(stats, 'staleHits'),
  );
  add(
    {
      name: 'negative_hits',
      type: 'counter',
      help: 'Resolves answered from an unknown-token entry or a revoke tombstone.',
      labelNames: ['kind'],
    },
    perKind(stats, 'negativeHits'),
  );
  add(
    {
      name: 'malformed',
      type: 'counter',
      help: 'Credentials rejected by the offline format check, before any lookup.',
      labelNames: [],
    },
    one(stats.malformed),
  );
  // The store.
  add(
    {
      name: 'store_queries',
      type: 'counter',
      help: 'Store lookups (findByHash).',
      labelNames: ['kind'],
    },
    perKind(stats, 'storeQueries'),
  );
  add(
    {
      name: 'store_errors',
      type: 'counter',
      help: 'Store lookups that failed or timed out: answered 503 unless served stale.',
      labelNames: ['kind'],
    },
    perKind(stats, 'storeErrors'),
  );
  add(
    {
      name: 'store_timeouts',
      type: 'counter',
      help: 'Store lookups that missed storeTimeoutMs (included in store_errors).',
      labelNames: ['kind'],
    },
    perKind(stats, 'storeTimeouts'),
  );
  add(
    {
      name: 'fills_dropped',
      type: 'counter',
      help: 'Loads whose answer was thrown away because an invalidation raced them.',
      labelNames: ['kind'],
    },
    perKind(stats, 'droppedFills'),
  );
  // Refresh-ahead.
  add(
    {
      name: 'refreshes_started',
      type: 'counter',
      help: 'Refresh-ahead reloads started.',
      labelNames: ['kind'],
    },
    perKind(stats, 'refreshes'),
  );
  add(
    {
      name: 'refreshes',
      type: 'counter',
      help: 'Refresh-ahead reloads by outcome: ok (the store answered), failed (store error), dropped (raced an invalidation), skipped (a load was already running).',
      labelNames: ['kind', 'outcome'],
    },
    [
      ...perKind(stats, 'refreshOk', { outcome: 'ok' }),
      ...perKind(stats, 'refreshFailed', { outcome: 'failed' }),
      ...perKind(stats, 'refreshDropped', { outcome: 'dropped' }),
      ...perKind(stats, 'refreshSkipped', { outcome: 'skipped' }),
    ],
  );
  // Invalidations.
  add(
    {
      name: 'invalidations',
      type: 'counter',
      help: 'Invalidations applied here: made on this instance (local) or received from a bus (bus).',
      labelNames: ['kind', 'source'],
    },
    [
      ...perKind(stats, 'invalidationsLocal', { source: 'local' }),
      ...perKind(stats, 'invalidationsBus', { source: 'bus' }),
    ],
  );
  add(
    {
      name: 'scoped_invalidations',
      type: 'counter',
      help: 'Scoped invalidations (token, subject, kind, access key, all), made here or heard from a bus.',
      labelNames: ['scope'],
    },
    Object.entries(stats.invalidationsByScope).map(([scope, value]) => ({
      labels: { scope },
      value,
    })),
  );
  // L1.
  add(
    {
      name: 'evictions',
      type: 'counter',
      help: 'L1 entries evicted by the maxEntries bound (positive: identities, per kind; negative: unknown tokens).',
      labelNames: ['kind', 'type'],
    },
    [
      ...perKind(stats, 'evictions', { type: 'positive' }),
      { labels: { kind: '', type: 'negative' }, value: stats.negativeEvictions },
    ],
  );
  add(
    {
      name: 'entries',
      type: 'gauge',
      help: 'Entries held in L1: identities (positive), unknown tokens (negative), revoke tombstones (tombstone).',
      labelNames: ['tier', 'type'],
    },
    [
      { labels: { tier: 'l1', type: 'positive' }, value: stats.size },
      { labels: { tier: 'l1', type: 'negative' }, value: stats.negativeSize },
      { labels: { tier: 'l1', type: 'tombstone' }, value: stats.tombstones },
    ],
  );
  add(
    {
      name: 'pass_through',
      type: 'gauge',
      help: '1 when the cache is disabled (enabled: false): every resolve asks the store.',
      labelNames: [],
    },
    one(stats.passThrough),
  );
  // L2.
  add(
    {
      name: 'tier_errors',
      type: 'counter',
      help: 'Shared-tier calls that failed (errors, timeouts, open circuit): each is a miss, never an auth failure.',
      labelNames: ['tier'],
    },
    one(stats.l2Errors, { tier: 'l2' }),
  );
  add(
    {
      name: 'tier_untrusted',
      type: 'counter',
      help: 'Shared-tier identities ignored because they were filled before this instance started (see tierSkewMs).',
      labelNames: ['tier'],
    },
    one(stats.tierUntrusted, { tier: 'l2' }),
  );
  add(
    {
      name: 'breaker_state',
      type: 'gauge',
      unit: '{state}',
      help: 'Shared-tier circuit breaker: 0 closed, 1 half-open, 2 open (absent without a tier that reports one).',
      labelNames: ['tier'],
    },
    stats.l2BreakerState < 0 ? [] : one(stats.l2BreakerState, { tier: 'l2' }),
  );
  add(
    {
      name: 'pending_invalidations',
      type: 'gauge',
      help: 'Invalidations still being retried: of the shared tier (tier), of a bus publish (bus).',
      labelNames: ['target'],
    },
    [
      { labels: { target: 'tier' }, value: stats.pendingTier },
      { labels: { target: 'bus' }, value: stats.pendingPublish },
    ],
  );
  add(
    {
      name: 'invalidation_retries',
      type: 'counter',
      help: 'Background retries of failed invalidations: of the shared tier (tier), of a bus publish (bus).',
      labelNames: ['target'],
    },
    [
      { labels: { target: 'tier' }, value: stats.tierRetries },
      { labels: { target: 'bus' }, value: stats.publishRetries },
    ],
  );
  // Buses.
  add(
    { name: 'buses', type: 'gauge', help: 'Invalidation buses configured.', labelNames: [] },
    one(stats.buses),
  );
  add(
    {
      name: 'buses_connected',
      type: 'gauge',
      help: 'Invalidation buses whose subscription is up.',
      labelNames: [],
    },
    one(stats.busesConnected),
  );
  add(
    {
      name: 'bus_lag',
      type: 'gauge',
      unit: 's',
      help: 'Seconds since any bus last received a message (absent until one has).',
      labelNames: [],
    },
    stats.busLagMs < 0 ? [] : one(stats.busLagMs / 1000),
  );
  add(
    {
      name: 'bus_catch_ups',
      type: 'counter',
      help: 'Messages the buses delivered by catch-up reads after a reconnect, rather than live.',
      labelNames: [],
    },
    one(stats.busCatchUps),
  );
  // Touches.
  add(
    {
      name: 'touches_queued',
      type: 'counter',
      help: 'Token uses queued for a last_used_at write (at most one per token per window).',
      labelNames: [],
    },
    one(stats.touchesQueued),
  );
  add(
    {
      name: 'touches_written',
      type: 'counter',
      help: 'Token ids whose last_used_at was written.',
      labelNames: [],
    },
    one(stats.touchedTokens),
  );
  add(
    {
      name: 'touch_batches',
      type: 'counter',
      help: 'Batched last_used_at writes, by outcome.',
      labelNames: ['outcome'],
    },
    [
      { labels: { outcome: 'ok' }, value: stats.touchBatches },
      { labels: { outcome: 'failed' }, value: stats.touchErrors },
    ],
  );
  return families;
}
