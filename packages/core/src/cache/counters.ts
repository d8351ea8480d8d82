/**
 * The resolver's counters: one mutable object every part increments directly (a property
 * increment is all the hit path can afford). `auth.stats()` adds the current sizes to a copy.
 */
import type { AuthCacheStats } from '../types.js';

/** Every counter of `AuthCacheStats`; the rest of it (sizes, pending counts) is read live. */
export type Counters = Omit<
  AuthCacheStats,
  'pendingTier' | 'pendingPublish' | 'size' | 'negativeSize' | 'tombstones' | 'invalidationsByScope'
>;

export function createCounters(): Counters {
  return {
    hits: 0,
    negativeHits: 0,
    misses: 0,
    malformed: 0,
    l2Hits: 0,
    l2Misses: 0,
    l2Errors: 0,
    tierUntrusted: 0,
    tierRetries: 0,
    publishRetries: 0,
    storeQueries: 0,
    storeErrors: 0,
    storeTimeouts: 0,
    droppedFills: 0,
    refreshes: 0,
    invalidations: 0,
    touchBatches: 0,
    touchErrors: 0,
    touchedTokens: 0,
  };
}
