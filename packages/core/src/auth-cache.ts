import { LRUCache } from 'lru-cache';
import { createTokenFormat, hashToken as sha256Hex, type TokenKinds } from './tokens.js';
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
  /** Drops every cached entry on this instance. */
  clear(): void;
  /** Writes pending `last_used_at` touches now. */
  flushTouches(): Promise<void>;
  /** Resolves when every bus subscription is live. */
  ready(): Promise<void>;
  stats(): AuthCacheStats;
  /** Flushes pending touches and closes the buses. Does not close the store or the tier. */
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

interface NegativeEntry {
  readonly reason: 'invalid' | 'revoked';
  readonly deadline: number;
}

interface Flight {
  promise: Promise<ResolveResult>;
  /** Set by an invalidation that happened while the load was running. */
  stale: boolean;
}

const DEFAULT_TTL = 60_000;
/** A load that keeps being invalidated under our feet is retried this often, then answered 503. */
const MAX_LOAD_ATTEMPTS = 3;

/** How long an entry may be served: `min(ttl, expiresAt − now)`; ≤ 0 means "do not cache". */
export function clampTtlToExpiry(ttl: number, expiresAt: number | null, now: number): number {
  if (expiresAt === null) return ttl;
  return Math.min(ttl, expiresAt - now);
}

/** Cache keys are `kind:hash`; kinds never contain `:`. */
function tokenHashOf(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}

function fail(reason: FailureReason): ResolveResult {
  return { ok: false, reason };
}
const MALFORMED = Object.freeze(fail('malformed'));
const INVALID = Object.freeze(fail('invalid'));
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
  const enabled = options.enabled ?? true;
  const refreshAhead = options.refreshAhead ?? 0;
  if (!(refreshAhead >= 0 && refreshAhead < 1)) {
    throw new TypeError('createAuthCache: refreshAhead must be in [0, 1)');
  }
  const clock = options.clock ?? Date.now;
  const logger: Logger = options.logger ?? console;
  const format = createTokenFormat(options.tokenKinds);
  const hashToken = options.hashToken ?? store.hashToken ?? sha256Hex;
  const buses = options.bus === undefined ? [] : ([] as InvalidationBus[]).concat(options.bus);
  /** How long a revoke is remembered (L1 and shared tier alike): never less than a negative entry. */
  const tombstoneTtl = Math.max(ttl, negativeTtl);

  const counters = {
    hits: 0,
    negativeHits: 0,
    misses: 0,
    malformed: 0,
    l2Hits: 0,
    l2Misses: 0,
    l2Errors: 0,
    storeQueries: 0,
    storeErrors: 0,
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
  const negative = enabled ? new LRUCache<string, NegativeEntry>({ max: maxEntries }) : undefined;
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
    return { ok: true, identity, tokenHash };
  };

  /** Loads from L2 then the store; fills the caches unless an invalidation raced the load. */
  async function load(
    kind: string,
    tokenHash: string,
    key: string,
    flight: Flight,
  ): Promise<ResolveResult> {
    for (let attempt = 1; ; attempt++) {
      flight.stale = false;
      let generation = 0;
      if (tier) {
        try {
          const cached = await tier.get(key);
          generation = cached.generation;
          if (cached.value?.type === 'revoked') {
            counters.l2Hits++;
            rememberNegative(key, 'revoked', tombstoneTtl);
            return REVOKED;
          }
          if (cached.value?.type === 'identity') {
            const { identity } = cached.value;
            const now = clock();
            if (identity.expiresAt !== null && identity.expiresAt <= now) return EXPIRED;
            counters.l2Hits++;
            if (!flight.stale) {
              // An L2 hit lives in L1 no longer than it has left in L2.
              rememberPositive(key, identity, now, cached.ttlMs);
              return succeed(key, identity, tokenHash);
            }
          } else counters.l2Misses++;
        } catch {
          // An L2 failure is a miss, never an auth outcome.
          counters.l2Errors++;
        }
      }

      let identity: Identity | null;
      counters.storeQueries++;
      try {
        identity = await store.findByHash(kind, tokenHash);
      } catch {
        counters.storeErrors++;
        return UNAVAILABLE;
      }
      if (flight.stale) {
        // Revoked or invalidated while we were reading: what we read may predate it.
        counters.droppedFills++;
        if (attempt < MAX_LOAD_ATTEMPTS) continue;
        return UNAVAILABLE;
      }
      const now = clock();
      if (identity === null) {
        // Gone from the store (a refresh-ahead may be the one to notice): stop serving it.
        positive?.delete(key);
        // A revoke that raced this load left a tombstone: keep it and say why.
        const tombstone = negative?.get(key);
        if (tombstone?.reason === 'revoked' && now < tombstone.deadline) return REVOKED;
        rememberNegative(key, 'invalid', negativeTtl);
        return INVALID;
      }
      // The store filters expired rows with its own clock; ours is the one that counts here.
      if (identity.expiresAt !== null && identity.expiresAt <= now) {
        positive?.delete(key);
        return EXPIRED;
      }
      rememberPositive(key, identity, now);
      if (tier) {
        const ttlMs = clampTtlToExpiry(ttl, identity.expiresAt, now);
        if (ttlMs > 0) {
          tier.fill(key, { type: 'identity', identity }, ttlMs, generation).catch(() => {
            counters.l2Errors++;
          });
        }
      }
      return succeed(key, identity, tokenHash);
    }
  }

  function rememberPositive(key: string, identity: Identity, now: number, maxTtl?: number): void {
    if (!positive) return;
    const ttlMs = clampTtlToExpiry(
      maxTtl === undefined ? ttl : Math.min(ttl, maxTtl),
      identity.expiresAt,
      now,
    );
    if (ttlMs <= 0) return;
    negative?.delete(key);
    const result: ResolveResult = { ok: true, identity, tokenHash: tokenHashOf(key) };
    // A clamped entry ends with its token: reloading it early could not make it live longer.
    const refreshAt = refreshAhead > 0 && ttlMs === ttl ? now + ttlMs * refreshAhead : Infinity;
    positive.set(key, {
      identity,
      deadline: now + ttlMs,
      result,
      touchDue: now + touchInterval,
      refreshAt,
    });
  }

  function rememberNegative(key: string, reason: NegativeEntry['reason'], ttlMs: number): void {
    if (!negative || ttlMs <= 0) return;
    negative.set(key, { reason, deadline: clock() + ttlMs });
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
    if (negative) {
      const entry = negative.get(key);
      if (entry !== undefined) {
        if (clock() < entry.deadline) {
          counters.negativeHits++;
          return Promise.resolve(entry.reason === 'revoked' ? REVOKED : INVALID);
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
    return resolveKey(parsed.kind, hashToken(token));
  }

  /** Drops a key's cached state on this instance and stales its running loads. */
  function dropLocal(key: string): void {
    positive?.delete(key);
    const flights = running.get(key);
    if (flights) for (const flight of flights) flight.stale = true;
    // Later resolves must not join a load that may have read the old state.
    inflight.delete(key);
  }

  function invalidateTier(message: InvalidationMessage): Promise<void> {
    if (!tier) return Promise.resolve();
    const key = `${message.kind}:${message.tokenHash}`;
    const tombstoneMs = message.reason === 'revoked' ? tombstoneTtl : 0;
    return tier.invalidate(key, tombstoneMs).catch((error) => {
      counters.l2Errors++;
      logger.warn('authcache: shared tier invalidation failed', { error: String(error) });
    });
  }

  /**
   * The one path every invalidation takes. `clearTier`: this instance must clear the shared tier
   * (its own revokes and invalidations, and changes made in the store, which no instance has
   * cleared yet). `publish`: announce it on the buses (only for changes made here).
   */
  async function applyInvalidation(
    message: InvalidationMessage,
    { clearTier, publish }: { clearTier: boolean; publish: boolean },
  ): Promise<void> {
    const key = `${message.kind}:${message.tokenHash}`;
    counters.invalidations++;
    dropLocal(key);
    const revoked = message.reason === 'revoked';
    if (revoked) rememberNegative(key, 'revoked', tombstoneTtl);
    else negative?.delete(key);
    const event: InvalidationEvent = { type: 'invalidate', ...message };
    if (tier && clearTier) {
      // A revoke's tombstone already stops reloads. Anything else could be read back from the
      // shared tier until it is cleared, so listeners (which re-check at once) hear of it only
      // afterwards, and whatever a load cached from the old value meanwhile is dropped again.
      if (revoked) emit(event);
      await invalidateTier(message);
      dropLocal(key);
      if (!revoked) emit(event);
    } else emit(event);
    if (!publish) return;
    await Promise.all(
      buses.map((bus) =>
        bus.publish(message).catch((error) => {
          logger.warn('authcache: publishing an invalidation failed', { error: String(error) });
        }),
      ),
    );
  }

  /** Handles an invalidation delivered by a bus. */
  function invalidateRemote(message: InvalidationMessage): void {
    // An instance publishes only after clearing the shared tier; the store's own changes
    // (fromStore) reached nobody's tier yet.
    void applyInvalidation(message, { clearTier: message.fromStore === true, publish: false });
  }

  async function invalidate(kind: string, tokenHash: string): Promise<void> {
    const message: InvalidationMessage = { kind, tokenHash, reason: 'invalidated' };
    await applyInvalidation(message, { clearTier: true, publish: true });
  }

  async function revoke(
    kind: string,
    tokenId: string,
    opts?: { subject?: string },
  ): Promise<boolean> {
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
    resolveHash: resolveKey,
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
    stats: () => ({ ...counters, size: positive?.size ?? 0, negativeSize: negative?.size ?? 0 }),
    async close() {
      await touches.close();
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
}
