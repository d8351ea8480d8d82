/**
 * Loading a key past L1: single-flight per key, the shared-tier read (with the rule for which
 * tier values a fresh instance may trust), the store lookup bounded by `storeTimeoutMs`, the
 * fill into L1 and the tier, and refresh-ahead. Every running load can be marked stale by an
 * invalidation; a stale load's answer is thrown away and the load retried.
 */
import type { TouchScheduler } from '../touch.js';
import type { Identity, ResolveResult, SharedTier, TokenStore } from '../types.js';
import type { Counters } from './counters.js';
import { clampTtlToExpiry, type Entries } from './entries.js';
import { freezeIdentity } from './freeze.js';
import { attempt, EXPIRED, INVALID, REVOKED, UNAVAILABLE } from './results.js';

/** A load that keeps being invalidated under our feet is retried this often, then answered 503. */
const MAX_LOAD_ATTEMPTS = 3;
/** Rejection reason of a store lookup that missed `storeTimeoutMs`. */
const STORE_TIMEOUT = Symbol('store timeout');

export interface LoaderOptions {
  store: TokenStore;
  tier: SharedTier | undefined;
  /** `false` (pass-through): loads are never shared, every resolve asks the store. */
  enabled: boolean;
  /** How long a tier copy lives (the `tierTtl` option), before jitter and the expiry clamp. */
  tierTtl: number;
  /** Shortens a lifetime by a random fraction (the `ttlJitter` option). */
  jitter: (lifetime: number) => number;
  storeTimeoutMs: number;
  /** Clock skew tolerated when judging tier values (see the `tierSkewMs` option). */
  tierSkewMs: number;
  /** The longest a tier identity can live. */
  tierLifetime: number;
  clock: () => number;
  counters: Counters;
  touches: Pick<TouchScheduler, 'record'>;
  entries: Entries;
  /** Whether `key`'s tier invalidation is still pending: its loads skip the tier. */
  tierPending(key: string): boolean;
  /** Whether a tier identity predates a scoped invalidation covering it (`cache/scoped.ts`). */
  isScopeStale?(kind: string, identity: Identity, filledAt: number | undefined): boolean;
}

export interface Loader {
  /** Joins the load of `key` under way, or starts one (pass-through mode always starts one). */
  load(kind: string, tokenHash: string, key: string): Promise<ResolveResult>;
  /** Refresh-ahead: reloads `key` off the request path, unless a load is already under way. */
  refresh(kind: string, tokenHash: string, key: string): void;
  /** Stales every running load of `key`; later resolves start a fresh one. */
  markStale(key: string): void;
  /** Stales every running load. */
  markAllStale(): void;
}

interface Flight {
  promise: Promise<ResolveResult>;
  /** Set by an invalidation that happened while the load was running. */
  stale: boolean;
  /** A refresh-ahead reload whose outcome is still to be counted. */
  refresh: boolean;
}

export function createLoader(options: LoaderOptions): Loader {
  const { store, tier, enabled, tierTtl, jitter, storeTimeoutMs, clock, counters, touches } =
    options;
  const { entries } = options;
  const { tierPending, isScopeStale } = options;
  const startedAt = clock();
  /** Until `trustWindowEnd`, tier identities filled before `trustFrom` are ignored. */
  const trustFrom = startedAt + options.tierSkewMs;
  const trustWindowEnd = startedAt + options.tierLifetime + options.tierSkewMs;
  /** The load every concurrent resolve of a key joins (single-flight). */
  const inflight = new Map<string, Flight>();
  /** Every running load per key, joined or not (pass-through loads too), for invalidation. */
  const running = new Map<string, Set<Flight>>();

  const succeed = (key: string, identity: Identity, tokenHash: string): ResolveResult => {
    touches.record(key, identity.kind, identity.tokenId);
    return Object.freeze({ ok: true, identity, tokenHash });
  };

  /** A tier identity may predate a revoke made before this instance started: see `tierSkewMs`. */
  function trusted(filledAt: number | undefined, now: number): boolean {
    return now >= trustWindowEnd || (typeof filledAt === 'number' && filledAt >= trustFrom);
  }

  /** `findByHash`, bounded by `storeTimeoutMs`; a late answer is dropped on the floor. */
  function lookup(kind: string, tokenHash: string): Promise<Identity | null> {
    const answer = attempt(() => store.findByHash(kind, tokenHash));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(STORE_TIMEOUT), storeTimeoutMs);
      answer.then(
        (identity) => {
          clearTimeout(timer);
          resolve(identity);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** Loads from L2 then the store; fills the caches unless an invalidation raced the load. */
  async function run(
    kind: string,
    tokenHash: string,
    key: string,
    flight: Flight,
  ): Promise<ResolveResult> {
    const stats = counters.forKind(kind);
    for (let attempt_ = 1; ; attempt_++) {
      flight.stale = false;
      // Deadlines count from here: a slow store must not stretch "at most one TTL".
      const started = clock();
      // While an invalidation of this key has not reached the tier, the tier may hold the old
      // value: neither read nor fill it until the retry succeeded.
      const useTier = tier !== undefined && !tierPending(key);
      let generation = 0;
      if (useTier) {
        try {
          const cached = await attempt(() => tier.get(key));
          generation = Number(cached.generation) || 0;
          const value = cached.value;
          if (value?.type === 'revoked') {
            stats.l2Hits++;
            entries.rememberTombstone(key);
            return REVOKED;
          }
          const now = clock();
          if (value?.type === 'identity' && !trusted(value.filledAt, now)) {
            // Possibly filled before a revoke this instance never heard of: ask the store.
            counters.tierUntrusted++;
            stats.l2Misses++;
          } else if (
            value?.type === 'identity' &&
            isScopeStale?.(kind, value.identity, value.filledAt)
          ) {
            // Filled before a scoped invalidation of it: stale, ask the store.
            stats.l2Misses++;
          } else if (value?.type === 'identity') {
            const identity = freezeIdentity(value.identity);
            if (identity.expiresAt !== null && identity.expiresAt <= now) return EXPIRED;
            stats.l2Hits++;
            if (!flight.stale) {
              if (entries.revokedHere(key, now)) return REVOKED;
              // An L2 hit lives in L1 no longer than it has left in L2.
              entries.rememberPositive(key, tokenHash, identity, now, now, cached.ttlMs);
              return succeed(key, identity, tokenHash);
            }
          } else stats.l2Misses++;
        } catch {
          // An L2 failure (thrown synchronously or not) is a miss, never an auth outcome.
          counters.l2Errors++;
        }
      }

      let found: Identity | null;
      stats.storeQueries++;
      try {
        found = await lookup(kind, tokenHash);
      } catch (error) {
        stats.storeErrors++;
        if (error === STORE_TIMEOUT) stats.storeTimeouts++;
        return UNAVAILABLE;
      }
      if (flight.stale) {
        // Revoked or invalidated while we were reading: what we read may predate it.
        stats.droppedFills++;
        if (flight.refresh) {
          // Counted once; a retry of it serves whoever joined, like any load.
          stats.refreshDropped++;
          flight.refresh = false;
        }
        if (attempt_ < MAX_LOAD_ATTEMPTS) continue;
        return UNAVAILABLE;
      }
      const now = clock();
      if (found === null) {
        // Gone from the store (a refresh-ahead may be the one to notice): stop serving it.
        entries.dropPositive(key);
        // A revoke that raced this load left a tombstone: keep it and say why.
        if (entries.revokedHere(key, now)) return REVOKED;
        entries.rememberNegative(key);
        return INVALID;
      }
      // The store filters expired rows with its own clock; ours is the one that counts here.
      if (found.expiresAt !== null && found.expiresAt <= now) {
        entries.dropPositive(key);
        return EXPIRED;
      }
      // A tombstone only exists for a token the store revoked: a lagging store can't undo it.
      if (entries.revokedHere(key, now)) return REVOKED;
      const identity = freezeIdentity(found);
      entries.rememberPositive(key, tokenHash, identity, now, started);
      if (useTier) {
        // The tier keeps it longer than L1 (tierTtl), so an L1 expiry is answered from the tier.
        const ttlMs =
          clampTtlToExpiry(jitter(tierTtl), identity.expiresAt, started) - (now - started);
        if (ttlMs > 0) {
          const value = { type: 'identity', identity, filledAt: started } as const;
          attempt(() => tier.fill(key, value, ttlMs, generation)).catch(() => {
            counters.l2Errors++;
          });
        }
      }
      return succeed(key, identity, tokenHash);
    }
  }

  function start(
    kind: string,
    tokenHash: string,
    key: string,
    refresh: boolean,
  ): Promise<ResolveResult> {
    const flight: Flight = { stale: false, refresh, promise: Promise.resolve(UNAVAILABLE) };
    let flights = running.get(key);
    if (!flights) {
      flights = new Set();
      running.set(key, flights);
    }
    flights.add(flight);
    const loaded = run(kind, tokenHash, key, flight);
    if (refresh) {
      // A failed refresh changes nothing: the entry keeps its deadline and stale window.
      void loaded.then((result) => {
        if (!flight.refresh) return; // counted as dropped
        const stats = counters.forKind(kind);
        if (result === UNAVAILABLE) stats.refreshFailed++;
        else stats.refreshOk++;
      });
    }
    flight.promise = loaded.finally(() => {
      if (inflight.get(key) === flight) inflight.delete(key);
      flights.delete(flight);
      if (flights.size === 0 && running.get(key) === flights) running.delete(key);
    });
    if (enabled) inflight.set(key, flight);
    return flight.promise;
  }

  return {
    load(kind, tokenHash, key) {
      // Pass-through mode never shares a load: every resolve asks the store.
      const existing = enabled ? inflight.get(key) : undefined;
      if (existing) return existing.promise;
      return start(kind, tokenHash, key, false);
    },
    refresh(kind, tokenHash, key) {
      const stats = counters.forKind(kind);
      if (inflight.has(key)) {
        stats.refreshSkipped++;
        return;
      }
      stats.refreshes++;
      // The answer is for later requests; failures are already counted and never thrown.
      void start(kind, tokenHash, key, true);
    },
    markStale(key) {
      const flights = running.get(key);
      if (flights) for (const flight of flights) flight.stale = true;
      // Later resolves must not join a load that may have read the old state.
      inflight.delete(key);
    },
    markAllStale() {
      for (const flights of running.values()) for (const flight of flights) flight.stale = true;
      inflight.clear();
    },
  };
}
