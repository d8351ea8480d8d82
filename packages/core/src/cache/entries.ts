/**
 * The in-process entry store (L1): identities (positive LRU), unknown tokens (negative LRU) and
 * revoke tombstones (their own LRU, which unknown tokens can't evict and `clear()` keeps), the
 * rules for how long each is remembered, and `lookup`, the whole hit path.
 */
import { LRUCache } from 'lru-cache';
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
  readonly identity: Identity;
  /** Epoch ms after which the entry must not be served: never past `identity.expiresAt`. */
  readonly deadline: number;
  /** The answer for a hit, built once so that a hit allocates nothing. */
  readonly result: ResolveResult;
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
   * The hit path: the cached answer for `key` (an identity, `expired`, `revoked` or `invalid`),
   * or `undefined` when it must be loaded. A positive hit allocates nothing; it records a
   * touch when one is due and reports a due refresh through `onRefreshDue`.
   */
  lookup(kind: string, tokenHash: string, key: string): ResolveResult | undefined;
  /**
   * Whether this instance knows the key as revoked: a live tombstone, or a revoke whose tier
   * invalidation or publish is still pending (pinned even if the tombstone was evicted).
   */
  revokedHere(key: string, now: number): boolean;
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
  const { jitter } = options;
  const { clock, counters, touches, isRevokePending, onRefreshDue } = options;
  // lru-cache's own TTL is not used: the deadline lives in the entry and is checked against
  // the injected clock on every hit, which also makes `ttl: 0` ("forever" in lru-cache) moot.
  const positive =
    enabled && ttl > 0 ? new LRUCache<string, PositiveEntry>({ max: maxEntries }) : undefined;
  /** Unknown tokens. A spray of random tokens can evict only these. */
  const negative = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;
  /** Revoke tombstones: their own LRU, which unknown tokens never touch and clear() keeps. */
  const tombstones = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;

  function revokedHere(key: string, now: number): boolean {
    const tombstone = tombstones?.get(key);
    if (tombstone !== undefined && now < tombstone.deadline) return true;
    return isRevokePending(key);
  }

  // Kept small so that the JIT inlines it into `resolve`: the rest is `lookupSlow`.
  function lookup(kind: string, tokenHash: string, key: string): ResolveResult | undefined {
    const entry = positive?.get(key);
    const now = clock();
    // `deadline` is never past the token's `expiresAt` (see rememberPositive): one comparison
    // tells a live entry; `lookupSlow` tells an expired token from an outlived entry.
    if (entry !== undefined && now < entry.deadline) {
      counters.hits++;
      if (now >= entry.refreshAt) {
        entry.refreshAt = Infinity;
        onRefreshDue(kind, tokenHash, key);
      }
      if (now >= entry.touchDue) {
        entry.touchDue = now + touchInterval;
        touches.record(key, entry.identity.kind, entry.identity.tokenId);
      }
      return entry.result;
    }
    return lookupSlow(key, entry, now);
  }

  /** Everything but a live positive hit: an expired or outlived entry, tombstones, negatives. */
  function lookupSlow(
    key: string,
    entry: PositiveEntry | undefined,
    now: number,
  ): ResolveResult | undefined {
    if (entry !== undefined) {
      positive?.delete(key);
      const { expiresAt } = entry.identity;
      if (expiresAt !== null && now >= expiresAt) return EXPIRED;
    }
    if (revokedHere(key, now)) {
      counters.negativeHits++;
      return REVOKED;
    }
    if (negative) {
      const negativeEntry = negative.get(key);
      if (negativeEntry !== undefined) {
        if (now < negativeEntry.deadline) {
          counters.negativeHits++;
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
    // A clamped entry ends with its token: reloading it early could not make it live longer.
    const refreshAt =
      refreshAhead > 0 && deadline === windowEnd && maxTtl === undefined
        ? base + ttl * refreshAhead
        : Infinity;
    positive.set(key, {
      identity,
      deadline,
      result,
      touchDue: now + touchInterval,
      refreshAt,
    });
  }

  return {
    lookup,
    revokedHere,
    rememberPositive,
    rememberNegative(key) {
      if (!negative || negativeTtl <= 0) return;
      negative.set(key, { deadline: clock() + negativeTtl });
    },
    rememberTombstone(key) {
      tombstones?.set(key, { deadline: clock() + tombstoneTtl });
    },
    dropPositive(key) {
      positive?.delete(key);
    },
    dropNegative(key) {
      negative?.delete(key);
    },
    dropMatching(match, negativePrefix) {
      let dropped = 0;
      if (positive) {
        const doomed: string[] = [];
        for (const [key, entry] of positive.entries()) {
          if (match(key, entry.identity)) doomed.push(key);
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
