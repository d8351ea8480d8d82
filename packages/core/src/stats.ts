/**
 * The shape of `auth.stats()`: plain numbers, cheap to read on every scrape, and what the
 * optional `stats()` of a shared tier and of a bus must expose for it.
 */
import type { InvalidationScopeName } from './types.js';

/**
 * Counters kept per token kind (`stats().byKind[kind]`). The same names at the top level of
 * {@link AuthCacheStats} are the sums over every kind.
 */
export interface KindStats {
  /** Resolves answered from a live L1 entry. */
  hits: number;
  /** Resolves answered from an ended L1 entry because the store was unreachable (`staleIfError`). */
  staleHits: number;
  /** Resolves that had to go past L1. */
  misses: number;
  /** Resolves answered from a negative entry ("unknown token") or a revoke tombstone. */
  negativeHits: number;
  /** Shared-tier reads that found a value (identity or tombstone), and that found none. */
  l2Hits: number;
  l2Misses: number;
  /** `findByHash` calls, how many failed (timeouts included), and how many missed the deadline. */
  storeQueries: number;
  storeErrors: number;
  storeTimeouts: number;
  /** Fills dropped because an invalidation raced the load. */
  droppedFills: number;
  /** Refresh-ahead reloads started. */
  refreshes: number;
  /** Refresh-ahead reloads the store answered (found, gone or expired). */
  refreshOk: number;
  /** Refresh-ahead reloads that failed (store error or timeout): the entry keeps its deadline. */
  refreshFailed: number;
  /** Refresh-ahead reloads not started because a load of the key was already running. */
  refreshSkipped: number;
  /** Refresh-ahead reloads whose answer was thrown away because an invalidation raced them. */
  refreshDropped: number;
  /** Invalidations made on this instance (`revoke`, `invalidate`, scoped invalidations). */
  invalidationsLocal: number;
  /** Invalidations received from a bus (other instances, or the store's triggers). */
  invalidationsBus: number;
  /** Positive L1 entries evicted by the `maxEntries` bound (not expiries). */
  evictions: number;
}

/** What `auth.stats()` returns: plain numbers (and `byKind`, a record of plain numbers). */
export interface AuthCacheStats extends KindStats {
  /** The counters of each token kind seen so far (the configured kinds always appear). */
  byKind: Record<string, KindStats>;
  /** `1` when the cache is off (`enabled: false`, every resolve asks the store), else `0`. */
  passThrough: number;
  /** Resolves rejected by the format check, before any lookup (no kind: the token has none). */
  malformed: number;
  /** Shared-tier calls that failed (errors, timeouts, open circuit, synchronous throws). */
  l2Errors: number;
  /**
   * The shared tier's circuit breaker, when the tier reports one: `0` closed, `1` half-open,
   * `2` open; `-1` without a tier or without breaker state.
   */
  l2BreakerState: number;
  /**
   * Tier identities ignored (and counted as misses) because they were filled before this
   * instance started, so may predate a revoke it never heard of (see `tierSkewMs`).
   */
  tierUntrusted: number;
  /** Background retries of failed shared-tier invalidations, and of failed bus publishes. */
  tierRetries: number;
  publishRetries: number;
  /**
   * Keys whose shared-tier invalidation failed and is being retried: until it succeeds their
   * loads skip the tier, and a revoke among them answers `revoked` whatever L1 holds.
   */
  pendingTier: number;
  /** Invalidations still waiting for at least one bus to accept them. */
  pendingPublish: number;
  /** Every invalidation applied here: `invalidationsLocal + invalidationsBus`. */
  invalidations: number;
  /**
   * Scoped invalidations (`auth.invalidateScope`: subject, kind, token, access key, all), made
   * here or heard from a bus, per scope.
   */
  invalidationsByScope: Record<InvalidationScopeName, number>;
  /** "Unknown token" L1 entries evicted by the `maxEntries` bound. */
  negativeEvictions: number;
  /** Token uses queued for a `last_used_at` write (at most one per token per window). */
  touchesQueued: number;
  /** Token ids written, batches written, batches failed. */
  touchedTokens: number;
  touchBatches: number;
  touchErrors: number;
  /** Split tokens answered by the verified-secret cache (an HMAC and a constant-time compare). */
  secretHits: number;
  /** Slow secret verifications run (`store.verifySecret`), and how many said "wrong secret". */
  secretVerifications: number;
  secretMismatches: number;
  /** Split-token resolves answered `unavailable` because too many verifications were waiting. */
  secretBusy: number;
  /** Buses configured, and how many of them report a live connection. */
  buses: number;
  busesConnected: number;
  /**
   * Milliseconds since the most recent message any bus received (messages, catch-up rows);
   * `-1` when no bus reports it or none has received anything yet.
   */
  busLagMs: number;
  /** Messages the buses delivered by catch-up reads (after a reconnect) instead of live. */
  busCatchUps: number;
  /** Current entry counts: positive entries, unknown-token entries, revoke tombstones. */
  size: number;
  negativeSize: number;
  tombstones: number;
}

export type { BusHealth, TierHealth } from './types.js';
