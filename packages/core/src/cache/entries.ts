/**
 * The in-process entry store (L1): identities (positive LRU), unknown tokens (negative LRU) and
 * revoke tombstones (their own LRU, which unknown tokens can't evict and `clear()` keeps), the
 * rules for how long each is remembered, and `lookup`, the whole hit path.
 */
import { LRUCache } from 'lru-cache';
import type { KindStats } from '../stats.js';
import type { TouchScheduler } from '../touch.js';
import type { Identity, ResolveResult } from '../types.js';
import type { Counters } from './counters.js';
import { EXPIRED, INVALID, REVOKED } from './results.js';

/** How long an entry may be served: `min(ttl, expiresAt − now)`; ≤ 0 means "do not cache". */
export function clampTtlToExpiry(ttl: number, expiresAt: number | null, now: number): number {
  if (expiresAt === null) return ttl;
  return Math.min(ttl, expiresAt - now);
}

export interface PositiveEntry {
  /**
   * The kind the entry was loaded as. The positive LRU is keyed by the token hash alone (no
   * `kind:hash` string to build on a hit); a hit must also match the kind asked for.
   */
  readonly kind: string;
  /** `kind:hash`, the key every other structure (tombstones, touches, the tier) uses. */
  readonly key: string;
  readonly identity: Identity;
  /** Epoch ms after which the entry must not be served: never past `identity.expiresAt`. */
  readonly deadline: number;
  /**
   * Until when the ended entry is kept as a stale-on-error fallback (`deadline + staleIfError`,
   * never past `identity.expiresAt`); equal to `deadline` when `staleIfError` is off.
   */
  readonly staleUntil: number;
  /** Its kind's counters, resolved once at fill so that a hit counts without a lookup. */
  readonly stats: KindStats;
  /** The answer for a hit, built once so that a hit allocates nothing. */
  readonly result: ResolveResult;
  /** `result`, settled: what `resolve()` returns for a hit, so that it allocates no promise. */
  readonly settled: Promise<ResolveResult>;
  /** Before this time a hit need not tell the touch scheduler (it already knows). */
  touchDue: number;
  /** From this time on a hit also reloads the entry in the background (`Infinity`: never). */
  refreshAt: number;
}

/** An unknown token ("invalid") or a revoke tombstone; each kind has its own LRU. */
interface NegativeEntry {
  readonly deadline: number;
}

export interface EntriesOptions {
  /** `false`: nothing is remembered (pass-through mode). */
  enabled: boolean;
  /** Positive entry lifetime; ≤ 0 disables positive entries. */
  ttl: number;
  /** Unknown-token lifetime; ≤ 0 disables negative entries. */
  negativeTtl: number;
  tombstoneTtl: number;
  /** Bound of each of the three LRUs. */
  maxEntries: number;
  touchInterval: number;
  /** Fraction of the TTL after which a hit asks for a background reload; `0`: never. */
  refreshAhead: number;
  /** How long an ended positive entry is kept for stale-on-error (`staleIfError`); `0`: not. */
  staleIfError: number;
  /** Shortens a lifetime by a random fraction (the `ttlJitter` option), so entries spread out. */
  jitter: (lifetime: number) => number;
  clock: () => number;
  counters: Counters;
  touches: Pick<TouchScheduler, 'record'>;
  /** Whether a revoke of `key` is still being retried (pinned even without a tombstone). */
  isRevokePending(key: string): boolean;
  /** A hit found its entry due for refresh-ahead (called once per entry). */
  onRefreshDue(kind: string, tokenHash: string, key: string): void;
}

export interface Entries {
  /**
   * The hit path: the cached answer for `kind` + `tokenHash` (an identity, `expired`, `revoked`
   * or `invalid`), or `undefined` when it must be loaded. A positive hit allocates nothing (not
   * even the `kind:hash` key: the positive LRU is keyed by the hash); it records a touch when
   * one is due and reports a due refresh through `onRefreshDue`.
   */
  lookup(kind: string, tokenHash: string): ResolveResult | undefined;
  /**
   * The settled promise of the last positive hit's answer. Valid right after a `lookup` that
   * returned an `ok` result, before anything else runs (`resolve` calls it in the same breath).
   */
  lastHitSettled(): Promise<ResolveResult>;
  /**
   * Whether this instance knows the key as revoked: a live tombstone, or a revoke whose tier
   * invalidation or publish is still pending (pinned even if the tombstone was evicted).
   */
  revokedHere(key: string, now: number): boolean;
  /**
   * The key's positive entry if it has ended (`deadline` passed) but is still within its
   * stale-on-error window; `undefined` otherwise. Applies no policy (see `cache/stale.ts`).
   */
  ended(key: string, now: number): PositiveEntry | undefined;
  /**
   * Caches `identity` until `min(base + ttl, now + maxTtl, expiresAt)`; `base` is when its load
   * started (or `now` for an L2 hit, whose remaining lifetime is `maxTtl`).
   */
  rememberPositive(
    key: string,
    tokenHash: string,
    identity: Identity,
    now: number,
    base: number,
    maxTtl?: number,
  ): void;
  rememberNegative(key: string): void;
  rememberTombstone(key: string): void;
  /** Drops the key's identity (not its tombstone). */
  dropPositive(key: string): void;
  /** Drops the key's "unknown token" entry. */
  dropNegative(key: string): void;
  /** Drops identities and unknown tokens; tombstones stay. */
  clear(): void;
  /**
   * Drops every identity for which `match(key, identity)` is true, and every unknown-token
   * entry whose key starts with `negativePrefix` when given. Scans L1: for rare, scoped
   * invalidations only.
   */
  dropMatching(
    match: (key: string, identity: Identity) => boolean,
    negativePrefix?: string,
  ): number;
  readonly size: number;
  readonly negativeSize: number;
  readonly tombstones: number;
}

export function createEntries(options: EntriesOptions): Entries {
  const { enabled, ttl, negativeTtl, tombstoneTtl, maxEntries, touchInterval, refreshAhead } =
    options;
  const { jitter, staleIfError } = options;
  const { clock, counters, touches, isRevokePending, onRefreshDue } = options;
  // lru-cache's own TTL is not used: the deadline lives in the entry and is checked against
  // the injected clock on every hit, which also makes `ttl: 0` ("forever" in lru-cache) moot.
  // `dispose` runs on set, delete and eviction, never on `get`: the hit path does not pay for it.
  const positive =
    enabled && ttl > 0
      ? new LRUCache<string, PositiveEntry>({
          max: maxEntries,
          dispose(entry, _key, reason) {
            if (reason === 'evict') entry.stats.evictions++;
          },
        })
      : undefined;
  /** Unknown tokens. A spray of random tokens can evict only these. */
  const negative = enabled
    ? new LRUCache<string, NegativeEntry>({
        max: maxEntries,
        dispose(_entry, _key, reason) {
          if (reason === 'evict') counters.negativeEvictions++;
        },
      })
    : undefined;
  /** Revoke tombstones: their own LRU, which unknown tokens never touch and clear() keeps. */
  const tombstones = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;

  function revokedHere(key: string, now: number): boolean {
    const tombstone = tombstones?.get(key);
    if (tombstone !== undefined && now < tombstone.deadline) return true;
    return isRevokePending(key);
  }

  /** The entry of the last positive hit (see `lastHitSettled`). */
  let lastHit: PositiveEntry | undefined;

  // Kept small so that the JIT inlines it into `resolve`: the rest is `lookupSlow`.
  function lookup(kind: string, tokenHash: string): ResolveResult | undefined {
    const entry = positive?.get(tokenHash);
    const now = clock();
    // `deadline` is never past the token's `expiresAt` (see rememberPositive): one comparison
    // tells a live entry; `lookupSlow` tells an expired token from an outlived entry.
    if (entry !== undefined && now < entry.deadline && entry.kind === kind) {
      entry.stats.hits++;
      if (now >= entry.refreshAt) {
        entry.refreshAt = Infinity;
        onRefreshDue(kind, tokenHash, entry.key);
      }
      if (now >= entry.touchDue) {
        entry.touchDue = now + touchInterval;
        touches.record(entry.key, entry.identity.kind, entry.identity.tokenId);
      }
      lastHit = entry;
      return entry.result;
    }
    return lookupSlow(kind, tokenHash, entry, now);
  }

  /** Everything but a live positive hit: an expired or outlived entry, tombstones, negatives. */
  function lookupSlow(
    kind: string,
    tokenHash: string,
    entry: PositiveEntry | undefined,
    now: number,
  ): ResolveResult | undefined {
    // An entry of another kind under the same hash is not this token's: leave it alone.
    if (entry !== undefined && entry.kind === kind) {
      const { expiresAt } = entry.identity;
      if (expiresAt !== null && now >= expiresAt) {
        positive?.delete(tokenHash);
        return EXPIRED;
      }
      // An ended entry stays (unserved) while it may still answer a store outage.
      if (now >= entry.staleUntil) positive?.delete(tokenHash);
    }
    const key = `${kind}:${tokenHash}`;
    if (revokedHere(key, now)) {
      counters.forKind(kind).negativeHits++;
      return REVOKED;
    }
    if (negative) {
      const negativeEntry = negative.get(key);
      if (negativeEntry !== undefined) {
        if (now < negativeEntry.deadline) {
          counters.forKind(kind).negativeHits++;
          return INVALID;
        }
        negative.delete(key);
      }
    }
    return undefined;
  }

  function rememberPositive(
    key: string,
    tokenHash: string,
    identity: Identity,
    now: number,
    base: number,
    maxTtl?: number,
  ): void {
    if (!positive) return;
    const windowEnd = base + jitter(ttl);
    let deadline = windowEnd;
    if (maxTtl !== undefined) deadline = Math.min(deadline, now + maxTtl);
    if (identity.expiresAt !== null) deadline = Math.min(deadline, identity.expiresAt);
    if (deadline <= now) return;
    negative?.delete(key);
    const result: ResolveResult = Object.freeze({ ok: true, identity, tokenHash });
    const kind = key.slice(0, key.length - tokenHash.length - 1);
    const staleUntil =
      staleIfError > 0
        ? Math.min(deadline + staleIfError, identity.expiresAt ?? Number.POSITIVE_INFINITY)
        : deadline;
    // A clamped entry ends with its token: reloading it early could not make it live longer.
    const refreshAt =
      refreshAhead > 0 && deadline === windowEnd && maxTtl === undefined
        ? base + ttl * refreshAhead
        : Infinity;
    positive.set(tokenHash, {
      kind,
      key,
      identity,
      deadline,
      staleUntil,
      stats: counters.forKind(kind),
      result,
      settled: Promise.resolve(result),
      touchDue: now + touchInterval,
      refreshAt,
    });
  }

  return {
    lookup,
    lastHitSettled: () => lastHit!.settled,
    revokedHere,
    ended(key, now) {
      // `peek`: reading a fallback must not make it look recently used.
      const entry = positive?.peek(key.slice(key.indexOf(':') + 1));
      if (entry === undefined || entry.key !== key) return undefined;
      if (now < entry.deadline || now >= entry.staleUntil) return undefined;
      return entry;
    },
    rememberPositive,
    rememberNegative(key) {
      if (!negative || negativeTtl <= 0) return;
      negative.set(key, { deadline: clock() + negativeTtl });
    },
    rememberTombstone(key) {
      tombstones?.set(key, { deadline: clock() + tombstoneTtl });
    },
    dropPositive(key) {
      // Keys are `kind:hash` and a kind never contains ':'.
      const tokenHash = key.slice(key.indexOf(':') + 1);
      if (positive?.peek(tokenHash)?.key === key) positive.delete(tokenHash);
    },
    dropNegative(key) {
      negative?.delete(key);
    },
    dropMatching(match, negativePrefix) {
      let dropped = 0;
      if (positive) {
        const doomed: string[] = [];
        // The positive LRU is keyed by hash; `match` gets the entry's `kind:hash` key.
        for (const [tokenHash, entry] of positive.entries()) {
          if (match(entry.key, entry.identity)) doomed.push(tokenHash);
        }
        for (const key of doomed) positive.delete(key);
        dropped = doomed.length;
      }
      if (negative && negativePrefix !== undefined) {
        const doomed = [...negative.keys()].filter((key) => key.startsWith(negativePrefix));
        for (const key of doomed) negative.delete(key);
      }
      return dropped;
    },
    clear() {
      positive?.clear();
      negative?.clear();
      // Tombstones stay: each rejects only a token the store already revoked.
    },
    get size() {
      return positive?.size ?? 0;
    },
    get negativeSize() {
      return negative?.size ?? 0;
    },
    get tombstones() {
      return tombstones?.size ?? 0;
    },
  };
}
