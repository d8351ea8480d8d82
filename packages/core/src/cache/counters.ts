/**
 * The resolver's counters: mutable objects every part increments directly (a property
 * increment is all the hit path can afford). Counters that belong to a token kind live in one
 * object per kind, resolved once (a positive L1 entry holds its kind's object, so a hit
 * increments a property without any lookup); `auth.stats()` sums them and adds the live sizes.
 */
import type { AuthCacheStats, KindStats } from '../stats.js';

/** Kinds beyond this many distinct names (e.g. from `resolveHash`) share {@link OTHER_KIND}. */
const MAX_KINDS = 64;
/** Where the counters of kinds past {@link MAX_KINDS} go. */
export const OTHER_KIND = '*';

/**
 * The counters that have no kind: named once here, typed and documented in `AuthCacheStats`
 * (stats.ts), created at zero and copied into `stats()` from this list.
 */
const GLOBAL_COUNTERS = [
  'malformed',
  'l2Errors',
  'tierUntrusted',
  'tierRetries',
  'publishRetries',
  'negativeEvictions',
  'touchesQueued',
  'touchedTokens',
  'touchBatches',
  'touchErrors',
  'secretHits',
  'secretVerifications',
  'secretMismatches',
  'secretBusy',
] as const satisfies readonly (keyof AuthCacheStats)[];

export type GlobalCounters = Record<(typeof GLOBAL_COUNTERS)[number], number>;

function globalCounters(from?: GlobalCounters): GlobalCounters {
  const out = {} as GlobalCounters;
  for (const name of GLOBAL_COUNTERS) out[name] = from ? from[name] : 0;
  return out;
}

export interface Counters extends GlobalCounters {
  /**
   * The counters of `kind`, created on first use. Not for the hit path: resolve it once and
   * keep the object (as positive entries do).
   */
  forKind(kind: string): KindStats;
  /** Every kind's counters and their sums (`byKind` and the top-level kind counters). */
  kinds(): { byKind: Record<string, KindStats>; totals: KindStats };
}

export function createKindStats(): KindStats {
  return {
    hits: 0,
    staleHits: 0,
    misses: 0,
    negativeHits: 0,
    l2Hits: 0,
    l2Misses: 0,
    storeQueries: 0,
    storeErrors: 0,
    storeTimeouts: 0,
    droppedFills: 0,
    refreshes: 0,
    refreshOk: 0,
    refreshFailed: 0,
    refreshSkipped: 0,
    refreshDropped: 0,
    invalidationsLocal: 0,
    invalidationsBus: 0,
    evictions: 0,
  };
}

/** `kinds`: the configured kinds, which always appear in `byKind` (zeros included). */
export function createCounters(kinds: readonly string[] = []): Counters {
  const byKind = new Map<string, KindStats>();
  for (const kind of kinds) byKind.set(kind, createKindStats());

  function forKind(kind: string): KindStats {
    let stats = byKind.get(kind);
    if (stats === undefined) {
      const name = byKind.size < MAX_KINDS ? kind : OTHER_KIND;
      stats = byKind.get(name);
      if (stats === undefined) {
        stats = createKindStats();
        byKind.set(name, stats);
      }
    }
    return stats;
  }

  return {
    ...globalCounters(),
    forKind,
    kinds() {
      const totals = createKindStats();
      const out: Record<string, KindStats> = {};
      for (const [kind, stats] of byKind) {
        out[kind] = { ...stats };
        for (const field of Object.keys(totals) as (keyof KindStats)[]) {
          totals[field] += stats[field];
        }
      }
      return { byKind: out, totals };
    },
  };
}

/** The counter part of `auth.stats()`: globals, per-kind sums, `byKind`. */
export function countersSnapshot(
  counters: Counters,
): Omit<
  AuthCacheStats,
  | 'passThrough'
  | 'l2BreakerState'
  | 'pendingTier'
  | 'pendingPublish'
  | 'buses'
  | 'busesConnected'
  | 'busLagMs'
  | 'busCatchUps'
  | 'size'
  | 'negativeSize'
  | 'tombstones'
  | 'invalidationsByScope'
> {
  const { byKind, totals } = counters.kinds();
  return {
    ...totals,
    byKind,
    ...globalCounters(counters),
    invalidations: totals.invalidationsLocal + totals.invalidationsBus,
  };
}
