/**
 * What `createAuthCache` takes and returns: `AuthCacheOptions` (every option, its default and
 * its bounds, checked once by `settingsOf`) and the `AuthCache` interface. The composition of
 * the parts lives in `auth-cache.ts`.
 */
import type { ScopeInvalidationResult } from './cache/scoped.js';
import type { SecretVerificationOptions } from './secrets/verified.js';
import type { AuthCacheStats } from './stats.js';
import { isValidKindName, type TokenKinds } from './tokens.js';
import type {
  InvalidationBus,
  InvalidationEvent,
  InvalidationScope,
  Logger,
  ResolveResult,
  SharedTier,
  TokenStore,
} from './types.js';

/** Options of {@link createAuthCache}. Every time is in milliseconds. */
export interface AuthCacheOptions {
  /** The source of truth. Required. */
  store: TokenStore;
  /**
   * How long a resolved identity is served from cache. Each entry's TTL is further clamped to
   * the token's `expiresAt`. `0` or a negative value disables positive caching (every resolve
   * queries the shared tier or the store). Default: `60_000`.
   */
  ttl?: number;
  /**
   * How long "no such token" is remembered, so a repeated unknown token costs one query per
   * window. `0` or negative disables negative caching. Default: `5_000`.
   */
  negativeTtl?: number;
  /**
   * Maximum number of positive entries, and separately of negative entries: a spray of random
   * well-formed tokens can evict only other negative entries, never a live identity.
   * Must be a positive integer. Default: `10_000`.
   */
  maxEntries?: number;
  /**
   * Minimum time between two `last_used_at` writes of one token. `0` writes on every use
   * (still batched). Default: the effective `ttl` (or `60_000` when `ttl` ≤ 0).
   */
  touchInterval?: number;
  /**
   * Refresh-ahead: once this fraction of an entry's TTL has passed, a hit still answers from
   * cache but also reloads the entry in the background (single-flight), so busy tokens never
   * pay a store round trip on the request path. `0.8` refreshes in the last fifth of the TTL.
   * Must be in `[0, 1)`; `0` turns it off. Entries clamped to a token's expiry are not
   * refreshed (the refresh could not extend them). A continuously used token then costs about
   * `1 / refreshAhead` store queries per TTL instead of one. Default: `0` (off).
   */
  refreshAhead?: number;
  /**
   * Bounded stale-on-error, in ms: when the store is unreachable or misses `storeTimeoutMs`
   * (and only then; the shared tier is asked first as usual), an identity whose L1 entry ended
   * less than this long ago is served (counted in `stats().staleHits`) instead of answering
   * `unavailable`. Never past the token's `expiresAt`, never after a revoke, tombstone or
   * invalidation of the token (they drop the entry), never from a negative entry; serving stale
   * extends nothing, and neither does a failed refresh-ahead. The `stale-if-error` of HTTP
   * caches: `ttl` is the soft deadline, `ttl + staleIfError` the hard one during an outage.
   * Costs L1 room: ended entries stay in the positive LRU for this long. Must be ≥ 0.
   * Default: `0` (off: an outage answers 503 for anything not live in L1 or the tier).
   */
  staleIfError?: number;
  /**
   * Spread of entry lifetimes: each positive entry (in L1 and in the shared tier) lives a random
   * `0`–`ttlJitter` fraction less than its TTL, so tokens first used together do not all reload
   * together (no latency cliff at window boundaries). Lifetimes are never longer than the TTL and
   * never past `expiresAt`. Must be in `[0, 0.5]`. Default: `0.05`.
   */
  ttlJitter?: number;
  /**
   * How long the shared tier keeps an identity, counted from its load's start, clamped to the
   * token's `expiresAt` (and jittered like L1). Longer than `ttl` so that an L1 expiry is answered
   * from the tier instead of the store; revocation does not wait for it (the buses, tier
   * tombstones and pending retries carry revokes). A freshly started instance ignores tier copies
   * older than itself for this long (see `tierSkewMs`). Must be ≥ `ttl`. Default: `3 × ttl`.
   */
  tierTtl?: number;
  /** How long pending touches wait before one batch writes them. Default: `1_000`. */
  touchFlushDelay?: number;
  /**
   * `false` turns the cache off: every resolve goes to the store, no LRU is allocated.
   * Format checks, touch throttling and revocation still apply. Default: `true`.
   */
  enabled?: boolean;
  /** Token kinds and their prefixes. Default: `defaultTokenKinds` (`pat` = `mul_`, `daemon` = `mdt_`). */
  tokenKinds?: TokenKinds;
  /**
   * Hash used for cache keys and store lookups. Default: `store.hashToken` when the store has
   * one, else SHA-256 hex.
   */
  hashToken?: (token: string) => string;
  /** Optional shared tier between L1 and the store (e.g. `createRedisTier`). Default: none. */
  tier?: SharedTier;
  /** Buses that carry invalidations to and from other instances. Default: none. */
  bus?: InvalidationBus | readonly InvalidationBus[];
  /**
   * Deadline of one store lookup. A `findByHash` that has not answered by then (a black-holed
   * database, a pool waiting for a connection that never comes) answers `unavailable` (503 +
   * `Retry-After`), and its late answer is discarded: never cached, never filled into the tier.
   * Must be a positive finite number. Default: `3_000`.
   */
  storeTimeoutMs?: number;
  /**
   * Clock skew tolerated between instances when judging shared-tier entries, in ms. For its
   * first `tierTtl + tierSkewMs` an instance ignores every tier identity filled before
   * `its start + tierSkewMs` (and asks the store instead): a revoke made before this instance
   * started either cleaned the tier, or left a stale entry that was filled before the revoke,
   * hence before this start. Must be ≥ 0. Default: `1_000`.
   */
  tierSkewMs?: number;
  /** Current time in epoch ms; inject a fake for tests. Default: `Date.now`. */
  clock?: () => number;
  /** Where warnings go (touch failures, bus errors). Default: `console`. */
  logger?: Logger;
  /**
   * Bounds on the slow verifications of split tokens' secrets (kinds with `split`, see
   * `docs/secrets.md`). Default: see {@link SecretVerificationOptions}.
   */
  secretVerification?: SecretVerificationOptions;
}

/** A cached resolver of credentials to identities. */
export interface AuthCache {
  /**
   * Resolves `token` if it is of one of `kinds`. Never throws for an auth outcome:
   * `{ ok: true, identity, tokenHash }` or `{ ok: false, reason }` with reason `malformed`
   * (fails the offline format check), `invalid` (unknown, or a kind not accepted here),
   * `expired`, `revoked` or `unavailable` (the store could not be asked; answer 503).
   */
  resolve(kinds: string | readonly string[], token: string): Promise<ResolveResult>;
  /**
   * What `resolve(kinds, token)` would settle to, when that is known without any I/O (a warm L1
   * entry, a negative entry or tombstone, a malformed token), with the same bookkeeping
   * (counters, touch, refresh-ahead); else `undefined`, having changed nothing. Lets adapters
   * answer a warm request without a promise hop.
   */
  peek(kinds: string | readonly string[], token: string): ResolveResult | undefined;
  /**
   * Resolves by an already computed hash, skipping the format check. For integrations whose
   * credential is not a prefixed token (e.g. SigV4 access key ids).
   */
  resolveHash(kind: string, tokenHash: string): Promise<ResolveResult>;
  /**
   * Revokes a token in the store, then drops it from every tier of this instance, writes a
   * tombstone and announces it on the bus. Once this resolves, no resolve on this instance
   * accepts the token, even one whose store lookup was already in flight.
   * Returns `false` when no such live token exists (or it belongs to another `subject`).
   */
  revoke(kind: string, tokenId: string, options?: { subject?: string }): Promise<boolean>;
  /**
   * Drops cached state for a token hash (e.g. after its `expires_at` was shortened) on this
   * instance and announces it on the bus. The next resolve asks the store.
   */
  invalidate(kind: string, tokenHash: string): Promise<void>;
  /**
   * Drops the cached state of a whole scope — one token by id, every token of a subject, a
   * kind, an access key, or everything — on this instance and in the shared tier, and announces
   * it on the buses so every instance drops it. Revokes nothing: the next resolve of a matching
   * token asks the store. Throws a `TypeError` naming the field for a malformed scope.
   */
  invalidateScope(scope: InvalidationScope): Promise<ScopeInvalidationResult>;
  /** The token kinds (prefixes) this cache parses; adapters use them to tell tokens from JWTs. */
  readonly tokenKinds: TokenKinds;
  /** The hash `resolve` uses for `token` (the key revocations are announced under). */
  hashToken(token: string): string;
  /** Listens to local and remote invalidations and flushes. Returns an unsubscribe function. */
  onInvalidate(listener: (event: InvalidationEvent) => void): () => void;
  /**
   * Drops every cached entry on this instance, except revoke tombstones (a tombstone only
   * rejects a token the store already revoked, so keeping it is always safe) and pending
   * shared-tier invalidations (see `stats().pendingTier`).
   */
  clear(): void;
  /**
   * Writes pending `last_used_at` touches now, after the shared tier has answered the touch
   * claims already asked (bounded by the tier's timeout), so that a claim won just before a
   * shutdown is written. `close()` does the same.
   */
  flushTouches(): Promise<void>;
  /** Resolves when every bus subscription is live. */
  ready(): Promise<void>;
  stats(): AuthCacheStats;
  /**
   * Flushes pending touches, stops retrying pending tier invalidations and bus publishes, and
   * closes the buses. Does not close the store or the tier.
   */
  close(): Promise<void>;
}

const DEFAULT_TTL = 60_000;

function checkTime(name: string, value: number): number {
  if (!Number.isFinite(value))
    throw new TypeError(`createAuthCache: ${name} must be a finite number`);
  return value;
}

export function checkKind(method: string, kind: string): void {
  if (!isValidKindName(kind)) {
    throw new TypeError(`auth.${method}: kind must be printable ASCII without ":"`);
  }
}

/** The options of {@link AuthCacheOptions} with their defaults applied, validated. */
export interface AuthCacheSettings {
  ttl: number;
  negativeTtl: number;
  maxEntries: number;
  touchInterval: number;
  storeTimeoutMs: number;
  tierSkewMs: number;
  enabled: boolean;
  refreshAhead: number;
  staleIfError: number;
  ttlJitter: number;
  tierTtl: number;
  clock: () => number;
  logger: Logger;
}

/** Applies the defaults and checks every bound; throws a `TypeError` naming the option. */
export function settingsOf(options: AuthCacheOptions): AuthCacheSettings {
  const ttl = checkTime('ttl', options.ttl ?? DEFAULT_TTL);
  const negativeTtl = checkTime('negativeTtl', options.negativeTtl ?? 5_000);
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError('createAuthCache: maxEntries must be a positive integer');
  }
  const touchInterval = checkTime(
    'touchInterval',
    options.touchInterval ?? (ttl > 0 ? ttl : DEFAULT_TTL),
  );
  const storeTimeoutMs = checkTime('storeTimeoutMs', options.storeTimeoutMs ?? 3_000);
  if (!(storeTimeoutMs > 0))
    throw new TypeError('createAuthCache: storeTimeoutMs must be positive');
  const tierSkewMs = checkTime('tierSkewMs', options.tierSkewMs ?? 1_000);
  if (!(tierSkewMs >= 0)) throw new TypeError('createAuthCache: tierSkewMs must be ≥ 0');
  const enabled = options.enabled ?? true;
  const refreshAhead = options.refreshAhead ?? 0;
  if (!(refreshAhead >= 0 && refreshAhead < 1)) {
    throw new TypeError('createAuthCache: refreshAhead must be in [0, 1)');
  }
  const staleIfError = checkTime('staleIfError', options.staleIfError ?? 0);
  if (!(staleIfError >= 0)) throw new TypeError('createAuthCache: staleIfError must be ≥ 0');
  const ttlJitter = options.ttlJitter ?? 0.05;
  if (!(ttlJitter >= 0 && ttlJitter <= 0.5)) {
    throw new TypeError('createAuthCache: ttlJitter must be in [0, 0.5]');
  }
  const tierTtl = checkTime('tierTtl', options.tierTtl ?? 3 * (ttl > 0 ? ttl : DEFAULT_TTL));
  if (!(tierTtl >= ttl && tierTtl > 0)) {
    throw new TypeError('createAuthCache: tierTtl must be positive and ≥ ttl');
  }
  const clock = options.clock ?? Date.now;
  const logger: Logger = options.logger ?? console;
  return {
    ttl,
    negativeTtl,
    maxEntries,
    touchInterval,
    storeTimeoutMs,
    tierSkewMs,
    enabled,
    refreshAhead,
    staleIfError,
    ttlJitter,
    tierTtl,
    clock,
    logger,
  };
}
