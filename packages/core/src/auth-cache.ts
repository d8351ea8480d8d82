import { LRUCache } from 'lru-cache';
import {
  createTokenFormat,
  isValidKindName,
  hashToken as sha256Hex,
  type TokenKinds,
} from './tokens.js';
import { createTouchScheduler } from './touch.js';
import type {
  AuthCacheStats,
  FailureReason,
  Identity,
  InvalidationBus,
  InvalidationEvent,
  InvalidationMessage,
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
  /** Optional shared tier between L1 and the store (e.g. `redisTier`). Default: none. */
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
   * first `ttl + tierSkewMs` an instance ignores every tier identity filled before
   * `its start + tierSkewMs` (and asks the store instead): a revoke made before this instance
   * started either cleaned the tier, or left a stale entry that was filled before the revoke,
   * hence before this start. Must be ≥ 0. Default: `1_000`.
   */
  tierSkewMs?: number;
  /** Current time in epoch ms; inject a fake for tests. Default: `Date.now`. */
  clock?: () => number;
  /** Where warnings go (touch failures, bus errors). Default: `console`. */
  logger?: Logger;
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
  /** Writes pending `last_used_at` touches now. */
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

interface PositiveEntry {
  readonly identity: Identity;
  /** Epoch ms after which the entry must not be served (ttl clamped to expiry). */
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

interface Flight {
  promise: Promise<ResolveResult>;
  /** Set by an invalidation that happened while the load was running. */
  stale: boolean;
}

/** An invalidation whose shared-tier step or bus publish failed, retried in the background. */
interface Pending {
  readonly kind: string;
  readonly tokenHash: string;
  reason: InvalidationMessage['reason'];
  /** The shared tier still has to be invalidated: until then loads skip it. */
  tier: boolean;
  /** Buses that still have to carry the message. */
  readonly buses: Set<InvalidationBus>;
  /** Epoch ms after which a stale tier value has expired by itself: retrying stops. */
  deadline: number;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
}

const DEFAULT_TTL = 60_000;
/** A load that keeps being invalidated under our feet is retried this often, then answered 503. */
const MAX_LOAD_ATTEMPTS = 3;
/** Backoff of pending tier invalidations and bus publishes: doubles from min to max, jittered. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
/** Rejection reason of a store lookup that missed `storeTimeoutMs`. */
const STORE_TIMEOUT = Symbol('store timeout');

/** How long an entry may be served: `min(ttl, expiresAt − now)`; ≤ 0 means "do not cache". */
export function clampTtlToExpiry(ttl: number, expiresAt: number | null, now: number): number {
  if (expiresAt === null) return ttl;
  return Math.min(ttl, expiresAt - now);
}

/** Calls a tier, store or bus method: a synchronous throw or a non-promise becomes a promise. */
function attempt<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * A deeply frozen copy of a value from a store or a tier: plain objects and arrays are copied and
 * frozen (`Object.fromEntries`, so a `__proto__` key stays an own property); other objects
 * (dates, class instances) are frozen in place. Runs once per load, never per hit.
 */
function frozenCopy(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 32) throw new TypeError('authcache: identity nested too deeply');
  if (Array.isArray(value)) return Object.freeze(value.map((v) => frozenCopy(v, depth + 1)));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return Object.freeze(value);
  return Object.freeze(
    Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozenCopy(v, depth + 1)])),
  );
}

function freezeIdentity(identity: Identity): Identity {
  return frozenCopy(identity) as Identity;
}

function fail(reason: FailureReason): ResolveResult {
  return { ok: false, reason };
}
const INVALID = Object.freeze(fail('invalid'));
const MALFORMED = Object.freeze(fail('malformed'));
const EXPIRED = Object.freeze(fail('expired'));
const REVOKED = Object.freeze(fail('revoked'));
const UNAVAILABLE = Object.freeze(fail('unavailable'));

function checkTime(name: string, value: number): number {
  if (!Number.isFinite(value))
    throw new TypeError(`createAuthCache: ${name} must be a finite number`);
  return value;
}

/** Creates an auth cache over `options.store`. See {@link AuthCacheOptions} for defaults. */
export function createAuthCache(options: AuthCacheOptions): AuthCache {
  if (!options?.store) throw new TypeError('createAuthCache: options.store is required');
  const { store, tier } = options;
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
  const clock = options.clock ?? Date.now;
  const logger: Logger = options.logger ?? console;
  const format = createTokenFormat(options.tokenKinds);
  // Bound, so that a store whose hashToken is a method using `this` keeps working.
  const hashToken =
    options.hashToken ?? (store.hashToken ? store.hashToken.bind(store) : sha256Hex);
  const buses = options.bus === undefined ? [] : ([] as InvalidationBus[]).concat(options.bus);
  /** How long a revoke is remembered (L1 and shared tier alike): never less than a negative entry. */
  const tombstoneTtl = Math.max(ttl, negativeTtl);
  /**
   * The longest a tier identity can live (every instance is assumed to run the same `ttl`): a
   * fill's TTL is counted from its load's start, so a value read before an invalidation is gone
   * from the tier this long after it.
   */
  const tierLifetime = Math.max(ttl > 0 ? ttl : DEFAULT_TTL, tombstoneTtl);
  const startedAt = clock();
  /** Until `trustWindowEnd`, tier identities filled before `trustFrom` are ignored. */
  const trustFrom = startedAt + tierSkewMs;
  const trustWindowEnd = startedAt + tierLifetime + tierSkewMs;
  let closed = false;

  const counters = {
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

  // lru-cache's own TTL is not used: the deadline lives in the entry and is checked against
  // the injected clock on every hit, which also makes `ttl: 0` ("forever" in lru-cache) moot.
  const positive =
    enabled && ttl > 0 ? new LRUCache<string, PositiveEntry>({ max: maxEntries }) : undefined;
  /** Unknown tokens. A spray of random tokens can evict only these. */
  const negative = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;
  /** Revoke tombstones: their own LRU, which unknown tokens never touch and clear() keeps. */
  const tombstones = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;
  /** Invalidations whose tier step or bus publish failed, by key; retried until done. */
  const pending = new Map<string, Pending>();
  /** The load every concurrent resolve of a key joins (single-flight). */
  const inflight = new Map<string, Flight>();
  /** Every running load per key, joined or not (pass-through loads too), for invalidation. */
  const running = new Map<string, Set<Flight>>();
  const listeners = new Set<(event: InvalidationEvent) => void>();

  const touches = createTouchScheduler({
    store,
    interval: touchInterval,
    flushEvery: options.touchFlushDelay ?? 1_000,
    maxEntries,
    clock,
    logger,
    tier,
    onBatch(ok, count) {
      if (ok) {
        counters.touchBatches++;
        counters.touchedTokens += count;
      } else counters.touchErrors++;
    },
  });

  const emit = (event: InvalidationEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.warn('authcache: an invalidation listener threw', { error: String(error) });
      }
    }
  };

  const succeed = (key: string, identity: Identity, tokenHash: string): ResolveResult => {
    touches.record(key, identity.kind, identity.tokenId);
    return Object.freeze({ ok: true, identity, tokenHash });
  };

  /**
   * Whether this instance knows the key as revoked: a live tombstone, or a revoke whose tier
   * invalidation or publish is still pending (pinned even if the tombstone was evicted).
   */
  function revokedHere(key: string, now: number): boolean {
    const tombstone = tombstones?.get(key);
    if (tombstone !== undefined && now < tombstone.deadline) return true;
    return pending.get(key)?.reason === 'revoked';
  }

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
  async function load(
    kind: string,
    tokenHash: string,
    key: string,
    flight: Flight,
  ): Promise<ResolveResult> {
    for (let attempt_ = 1; ; attempt_++) {
      flight.stale = false;
      // Deadlines count from here: a slow store must not stretch "at most one TTL".
      const started = clock();
      // While an invalidation of this key has not reached the tier, the tier may hold the old
      // value: neither read nor fill it until the retry succeeded.
      const useTier = tier !== undefined && pending.get(key)?.tier !== true;
      let generation = 0;
      if (useTier) {
        try {
          const cached = await attempt(() => tier.get(key));
          generation = Number(cached.generation) || 0;
          const value = cached.value;
          if (value?.type === 'revoked') {
            counters.l2Hits++;
            rememberTombstone(key);
            return REVOKED;
          }
          const now = clock();
          if (value?.type === 'identity' && !trusted(value.filledAt, now)) {
            // Possibly filled before a revoke this instance never heard of: ask the store.
            counters.tierUntrusted++;
            counters.l2Misses++;
          } else if (value?.type === 'identity') {
            const identity = freezeIdentity(value.identity);
            if (identity.expiresAt !== null && identity.expiresAt <= now) return EXPIRED;
            counters.l2Hits++;
            if (!flight.stale) {
              if (revokedHere(key, now)) return REVOKED;
              // An L2 hit lives in L1 no longer than it has left in L2.
              rememberPositive(key, tokenHash, identity, now, now, cached.ttlMs);
              return succeed(key, identity, tokenHash);
            }
          } else counters.l2Misses++;
        } catch {
          // An L2 failure (thrown synchronously or not) is a miss, never an auth outcome.
          counters.l2Errors++;
        }
      }

      let found: Identity | null;
      counters.storeQueries++;
      try {
        found = await lookup(kind, tokenHash);
      } catch (error) {
        counters.storeErrors++;
        if (error === STORE_TIMEOUT) counters.storeTimeouts++;
        return UNAVAILABLE;
      }
      if (flight.stale) {
        // Revoked or invalidated while we were reading: what we read may predate it.
        counters.droppedFills++;
        if (attempt_ < MAX_LOAD_ATTEMPTS) continue;
        return UNAVAILABLE;
      }
      const now = clock();
      if (found === null) {
        // Gone from the store (a refresh-ahead may be the one to notice): stop serving it.
        positive?.delete(key);
        // A revoke that raced this load left a tombstone: keep it and say why.
        if (revokedHere(key, now)) return REVOKED;
        rememberNegative(key);
        return INVALID;
      }
      // The store filters expired rows with its own clock; ours is the one that counts here.
      if (found.expiresAt !== null && found.expiresAt <= now) {
        positive?.delete(key);
        return EXPIRED;
      }
      // A tombstone only exists for a token the store revoked: a lagging store can't undo it.
      if (revokedHere(key, now)) return REVOKED;
      const identity = freezeIdentity(found);
      rememberPositive(key, tokenHash, identity, now, started);
      if (useTier) {
        const ttlMs = clampTtlToExpiry(ttl, identity.expiresAt, started) - (now - started);
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

  /**
   * Caches `identity` until `min(base + ttl, now + maxTtl, expiresAt)`; `base` is when its load
   * started (or `now` for an L2 hit, whose remaining lifetime is `maxTtl`).
   */
  function rememberPositive(
    key: string,
    tokenHash: string,
    identity: Identity,
    now: number,
    base: number,
    maxTtl?: number,
  ): void {
    if (!positive) return;
    const windowEnd = base + ttl;
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

  function rememberNegative(key: string): void {
    if (!negative || negativeTtl <= 0) return;
    negative.set(key, { deadline: clock() + negativeTtl });
  }

  function rememberTombstone(key: string): void {
    tombstones?.set(key, { deadline: clock() + tombstoneTtl });
  }

  function resolveKey(kind: string, tokenHash: string): Promise<ResolveResult> {
    const key = `${kind}:${tokenHash}`;
    if (positive) {
      const entry = positive.get(key);
      if (entry !== undefined) {
        const now = clock();
        const { expiresAt } = entry.identity;
        if (expiresAt !== null && now >= expiresAt) {
          positive.delete(key);
          return Promise.resolve(EXPIRED);
        }
        if (now < entry.deadline) {
          counters.hits++;
          if (now >= entry.refreshAt) refreshInBackground(kind, tokenHash, key, entry);
          if (now >= entry.touchDue) {
            entry.touchDue = now + touchInterval;
            touches.record(key, entry.identity.kind, entry.identity.tokenId);
          }
          return Promise.resolve(entry.result);
        }
        positive.delete(key);
      }
    }
    const now = clock();
    if (revokedHere(key, now)) {
      counters.negativeHits++;
      return Promise.resolve(REVOKED);
    }
    if (negative) {
      const entry = negative.get(key);
      if (entry !== undefined) {
        if (now < entry.deadline) {
          counters.negativeHits++;
          return Promise.resolve(INVALID);
        }
        negative.delete(key);
      }
    }
    counters.misses++;
    // Pass-through mode never shares a load: every resolve asks the store.
    const existing = enabled ? inflight.get(key) : undefined;
    if (existing) return existing.promise;
    return startLoad(kind, tokenHash, key);
  }

  function resolveHash(kind: string, tokenHash: string): Promise<ResolveResult> {
    // `kind:hash` must split at the kind's end: a kind with ':' is no kind of ours.
    if (
      typeof kind !== 'string' ||
      kind === '' ||
      kind.includes(':') ||
      typeof tokenHash !== 'string'
    ) {
      return Promise.resolve(INVALID);
    }
    return resolveKey(kind, tokenHash);
  }

  /** Reloads a still-valid entry off the request path; joins a load already under way. */
  function refreshInBackground(
    kind: string,
    tokenHash: string,
    key: string,
    entry: PositiveEntry,
  ): void {
    entry.refreshAt = Infinity;
    if (inflight.has(key)) return;
    counters.refreshes++;
    // The answer is for later requests; failures are already counted and never thrown.
    void startLoad(kind, tokenHash, key);
  }

  function startLoad(kind: string, tokenHash: string, key: string): Promise<ResolveResult> {
    const flight: Flight = { stale: false, promise: Promise.resolve(UNAVAILABLE) };
    let flights = running.get(key);
    if (!flights) {
      flights = new Set();
      running.set(key, flights);
    }
    flights.add(flight);
    flight.promise = load(kind, tokenHash, key, flight).finally(() => {
      if (inflight.get(key) === flight) inflight.delete(key);
      flights.delete(flight);
      if (flights.size === 0 && running.get(key) === flights) running.delete(key);
    });
    if (enabled) inflight.set(key, flight);
    return flight.promise;
  }

  function resolve(kinds: string | readonly string[], token: string): Promise<ResolveResult> {
    const parsed = format.parse(token);
    if (!parsed.ok) {
      counters.malformed++;
      return Promise.resolve(MALFORMED);
    }
    const accepted =
      typeof kinds === 'string' ? kinds === parsed.kind : kinds.includes(parsed.kind);
    // A well-formed token of another kind is not a syntax error, just not valid here.
    if (!accepted) return Promise.resolve(INVALID);
    let tokenHash: string;
    try {
      tokenHash = hashToken(token);
    } catch {
      // A hasher that throws is a broken store, not a bad token.
      counters.storeErrors++;
      return Promise.resolve(UNAVAILABLE);
    }
    return resolveKey(parsed.kind, tokenHash);
  }

  /** Drops a key's cached state on this instance and stales its running loads. */
  function dropLocal(key: string): void {
    positive?.delete(key);
    const flights = running.get(key);
    if (flights) for (const flight of flights) flight.stale = true;
    // Later resolves must not join a load that may have read the old state.
    inflight.delete(key);
  }

  /** Invalidates the shared tier; `false` when that failed (the caller retries it). */
  function invalidateTier(key: string, reason: InvalidationMessage['reason']): Promise<boolean> {
    if (!tier) return Promise.resolve(true);
    const tombstoneMs = reason === 'revoked' ? tombstoneTtl : 0;
    return attempt(() => tier.invalidate(key, tombstoneMs)).then(
      () => true,
      () => {
        counters.l2Errors++;
        return false;
      },
    );
  }

  /** Publishes on `targets`; returns the buses that failed. */
  async function publishTo(
    targets: Iterable<InvalidationBus>,
    message: InvalidationMessage,
  ): Promise<InvalidationBus[]> {
    const failed: InvalidationBus[] = [];
    await Promise.all(
      [...targets].map((bus) =>
        attempt(() => bus.publish(message)).catch(() => {
          failed.push(bus);
        }),
      ),
    );
    return failed;
  }

  /** Remembers an invalidation step that failed; it is retried until done or moot. */
  function addPending(
    message: InvalidationMessage,
    step: { tier?: boolean; buses?: readonly InvalidationBus[] },
  ): void {
    if (closed) return;
    const key = `${message.kind}:${message.tokenHash}`;
    // A fill that raced the operation ends at most one tier lifetime after its load started,
    // and that load started no earlier than one store deadline before it answered.
    const deadline = clock() + tierLifetime + storeTimeoutMs;
    let entry = pending.get(key);
    if (!entry) {
      entry = {
        kind: message.kind,
        tokenHash: message.tokenHash,
        reason: message.reason,
        tier: false,
        buses: new Set(),
        deadline,
        attempt: 0,
        timer: undefined,
        running: false,
      };
      pending.set(key, entry);
    }
    if (message.reason === 'revoked') entry.reason = 'revoked';
    if (step.tier) entry.tier = true;
    for (const bus of step.buses ?? []) entry.buses.add(bus);
    entry.deadline = Math.max(entry.deadline, deadline);
    if (!entry.timer && !entry.running) scheduleRetry(entry);
  }

  function scheduleRetry(entry: Pending): void {
    const base = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** entry.attempt);
    const delay = base / 2 + Math.random() * (base / 2);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void retry(entry);
    }, delay);
    entry.timer.unref();
  }

  async function retry(entry: Pending): Promise<void> {
    const key = `${entry.kind}:${entry.tokenHash}`;
    if (closed || pending.get(key) !== entry) return;
    entry.attempt++;
    entry.running = true;
    try {
      if (entry.tier) {
        counters.tierRetries++;
        if (await invalidateTier(key, entry.reason)) entry.tier = false;
      }
      if (entry.buses.size > 0) {
        counters.publishRetries++;
        const message: InvalidationMessage = {
          kind: entry.kind,
          tokenHash: entry.tokenHash,
          reason: entry.reason,
          ...(entry.tier ? { tierCleared: false } : {}),
        };
        const failed = new Set(await publishTo(entry.buses, message));
        for (const bus of [...entry.buses]) if (!failed.has(bus)) entry.buses.delete(bus);
      }
    } finally {
      entry.running = false;
    }
    if (closed) return;
    if (!entry.tier && entry.buses.size === 0) {
      pending.delete(key);
      return;
    }
    if (clock() >= entry.deadline) {
      // Whatever the tier held from before the operation has expired by now.
      pending.delete(key);
      logger.warn('authcache: gave up retrying an invalidation; its stale state has expired', {
        kind: entry.kind,
        tier: entry.tier,
        buses: entry.buses.size,
      });
      return;
    }
    scheduleRetry(entry);
  }

  /**
   * The one path every invalidation takes. `clearTier`: this instance must clear the shared tier
   * (its own revokes and invalidations, and changes no instance has cleared yet). `publish`:
   * announce it on the buses (only for changes made here).
   */
  async function applyInvalidation(
    message: InvalidationMessage,
    { clearTier, publish }: { clearTier: boolean; publish: boolean },
  ): Promise<void> {
    const key = `${message.kind}:${message.tokenHash}`;
    counters.invalidations++;
    dropLocal(key);
    const revoked = message.reason === 'revoked';
    if (revoked) rememberTombstone(key);
    else negative?.delete(key);
    const event: InvalidationEvent = { type: 'invalidate', ...message };
    let tierCleared = true;
    if (tier && clearTier) {
      // A revoke's tombstone already stops reloads. Anything else could be read back from the
      // shared tier until it is cleared, so listeners (which re-check at once) hear of it only
      // afterwards, and whatever a load cached from the old value meanwhile is dropped again.
      if (revoked) emit(event);
      tierCleared = await invalidateTier(key, message.reason);
      if (!tierCleared) {
        logger.warn('authcache: shared tier invalidation failed; retrying in the background', {
          kind: message.kind,
        });
        // Until it succeeds, loads of this key skip the tier, and a revoke stays pinned.
        addPending(message, { tier: true });
      }
      dropLocal(key);
      if (!revoked) emit(event);
    } else emit(event);
    if (!publish || buses.length === 0) return;
    const outgoing: InvalidationMessage = {
      kind: message.kind,
      tokenHash: message.tokenHash,
      reason: message.reason,
      // Receivers then invalidate the tier themselves (idempotent).
      ...(tierCleared ? {} : { tierCleared: false }),
    };
    const failed = await publishTo(buses, outgoing);
    if (failed.length > 0) {
      logger.warn('authcache: publishing an invalidation failed; retrying in the background', {
        kind: message.kind,
        buses: failed.length,
      });
      addPending(message, { buses: failed });
    }
  }

  /** Handles an invalidation delivered by a bus. */
  function invalidateRemote(message: InvalidationMessage): void {
    if (!isValidKindName(message?.kind) || typeof message.tokenHash !== 'string') return;
    // An instance publishes after clearing the shared tier, unless it says it could not
    // (tierCleared: false); the store's own changes (fromStore) reached nobody's tier yet.
    void applyInvalidation(message, {
      clearTier: message.fromStore === true || message.tierCleared === false,
      publish: false,
    });
  }

  function checkKind(method: string, kind: string): void {
    if (!isValidKindName(kind)) {
      throw new TypeError(`auth.${method}: kind must be printable ASCII without ":"`);
    }
  }

  async function invalidate(kind: string, tokenHash: string): Promise<void> {
    checkKind('invalidate', kind);
    const message: InvalidationMessage = { kind, tokenHash, reason: 'invalidated' };
    await applyInvalidation(message, { clearTier: true, publish: true });
  }

  async function revoke(
    kind: string,
    tokenId: string,
    opts?: { subject?: string },
  ): Promise<boolean> {
    checkKind('revoke', kind);
    const hashes = await store.revoke(kind, tokenId, opts);
    for (const tokenHash of hashes) {
      const message: InvalidationMessage = { kind, tokenHash, reason: 'revoked' };
      await applyInvalidation(message, { clearTier: true, publish: true });
    }
    return hashes.length > 0;
  }

  function clear(): void {
    positive?.clear();
    negative?.clear();
    // Tombstones stay: each rejects only a token the store already revoked.
    for (const flights of running.values()) for (const flight of flights) flight.stale = true;
    inflight.clear();
    emit({ type: 'flush' });
  }

  const busReady = Promise.all(
    buses.map((bus) =>
      bus.start({
        onInvalidate: invalidateRemote,
        onFlush: clear,
      }),
    ),
  ).then(() => undefined);
  // Surface start failures through ready(), not as an unhandled rejection.
  busReady.catch(() => {});

  return {
    resolve,
    resolveHash,
    revoke,
    invalidate,
    hashToken,
    tokenKinds: format.kinds,
    onInvalidate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear,
    flushTouches: () => touches.flush(),
    ready: () => busReady,
    stats: () => {
      let pendingTier = 0;
      let pendingPublish = 0;
      for (const entry of pending.values()) {
        if (entry.tier) pendingTier++;
        if (entry.buses.size > 0) pendingPublish++;
      }
      return {
        ...counters,
        pendingTier,
        pendingPublish,
        size: positive?.size ?? 0,
        negativeSize: negative?.size ?? 0,
        tombstones: tombstones?.size ?? 0,
      };
    },
    async close() {
      closed = true;
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
      await touches.close();
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
}
