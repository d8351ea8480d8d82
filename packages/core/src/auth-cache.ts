/**
 * The public resolver: the composition of the parts in `cache/` (entries, loader, pending
 * retries, invalidation, scoped invalidation, stale-on-error) and `secrets/`. `resolve` itself
 * lives here: kind and hash → L1 hit path → format check → loader. Options and the `AuthCache`
 * interface: `auth-cache-options.ts`.
 */
import {
  type AuthCache,
  type AuthCacheOptions,
  checkKind,
  settingsOf,
} from './auth-cache-options.js';
import { createCounters } from './cache/counters.js';
import { createEntries } from './cache/entries.js';
import { createInvalidation, createTierInvalidator, publishTo } from './cache/invalidation.js';
import { createLoader } from './cache/loader.js';
import { createPendingInvalidations } from './cache/pending.js';
import { INVALID, MALFORMED, UNAVAILABLE } from './cache/results.js';
import { createScoped } from './cache/scoped.js';
import { snapshotStats } from './cache/snapshot.js';
import { createStaleOnError } from './cache/stale.js';
import { createSplitSecrets, splitAwareHasher, touchesForCache } from './secrets/verified.js';
import type { AuthCacheStats } from './stats.js';
import { createTokenFormat, hashToken as sha256Hex } from './tokens.js';
import { createTouchScheduler } from './touch.js';
import type {
  InvalidationBus,
  InvalidationEvent,
  InvalidationMessage,
  InvalidationScope,
  ResolveResult,
} from './types.js';

export type { AuthCache, AuthCacheOptions } from './auth-cache-options.js';
export { clampTtlToExpiry } from './cache/entries.js';
export type { ScopeInvalidationResult } from './cache/scoped.js';

/** Creates an auth cache over `options.store`. See {@link AuthCacheOptions} for defaults. */
export function createAuthCache(options: AuthCacheOptions): AuthCache {
  if (!options?.store) throw new TypeError('createAuthCache: options.store is required');
  const { store, tier } = options;
  const settings = settingsOf(options);
  const { ttl, negativeTtl, maxEntries, touchInterval, storeTimeoutMs, tierSkewMs } = settings;
  const { enabled, refreshAhead, staleIfError, ttlJitter, tierTtl, clock, logger } = settings;
  const format = createTokenFormat(options.tokenKinds);
  // Bound, so that a store whose hashToken is a method using `this` keeps working.
  const hashToken =
    options.hashToken ?? (store.hashToken ? store.hashToken.bind(store) : sha256Hex);
  const buses = options.bus === undefined ? [] : ([] as InvalidationBus[]).concat(options.bus);
  /** How long a revoke is remembered (L1 and shared tier alike): never less than a negative entry. */
  const tombstoneTtl = Math.max(ttl, negativeTtl);
  /**
   * The longest a tier identity can live (every instance is assumed to run the same `tierTtl`):
   * a fill's TTL is counted from its load's start, so a value read before an invalidation is
   * gone from the tier this long after it.
   */
  const tierLifetime = Math.max(tierTtl, tombstoneTtl);
  /** A lifetime shortened by a random fraction of at most `ttlJitter`. */
  const jitter = (lifetime: number) => lifetime * (1 - ttlJitter * Math.random());

  // The parts, in dependency order; each gets only what it needs.
  const counters = createCounters(Object.keys(format.kinds));
  const touches = createTouchScheduler({
    store,
    interval: touchInterval,
    flushEvery: options.touchFlushDelay ?? 1_000,
    maxEntries,
    clock,
    logger,
    tier,
    onQueued() {
      counters.touchesQueued++;
    },
    onBatch(ok, count) {
      if (ok) {
        counters.touchBatches++;
        counters.touchedTokens += count;
      } else counters.touchErrors++;
    },
  });
  const cacheTouches = touchesForCache(format, touches);
  const invalidateTier = createTierInvalidator(tier, tombstoneTtl, counters);
  const pending = createPendingInvalidations({
    clock,
    logger,
    counters,
    lifetimeMs: tierLifetime + storeTimeoutMs,
    clearTier: invalidateTier,
    publish: publishTo,
  });
  const entries = createEntries({
    enabled,
    ttl,
    negativeTtl,
    tombstoneTtl,
    maxEntries,
    touchInterval,
    refreshAhead,
    staleIfError,
    jitter,
    clock,
    counters,
    touches: cacheTouches,
    isRevokePending: pending.isRevokePending,
    // `loader` exists by the time any hit can ask for a refresh.
    onRefreshDue: (kind, tokenHash, key) => loader.refresh(kind, tokenHash, key),
  });
  const loader = createLoader({
    store,
    tier,
    enabled,
    tierTtl,
    jitter,
    storeTimeoutMs,
    tierSkewMs,
    tierLifetime,
    clock,
    counters,
    touches: cacheTouches,
    entries,
    tierPending: pending.tierPending,
    // `scoped` exists by the time any load reads the tier.
    isScopeStale: (kind, identity, filledAt) => scoped.isStale(kind, identity, filledAt),
  });
  const stale = createStaleOnError({ staleIfError, entries, counters, clock });
  const invalidation = createInvalidation({
    tier,
    buses,
    counters,
    logger,
    entries,
    loader,
    pending,
    invalidateTier,
    onRemoteScope: (message) => scoped.onRemote(message),
  });
  const scoped = createScoped({
    tier,
    buses,
    counters,
    logger,
    entries,
    loader,
    clock,
    tierSkewMs,
    keepMs: tierLifetime + tierSkewMs + storeTimeoutMs,
    emit: invalidation.emit,
  });

  /** L1, then the loader. The hit path is `entries.lookup`: no allocation, no closure. */
  function resolveKey(kind: string, tokenHash: string): Promise<ResolveResult> {
    const cached = entries.lookup(kind, tokenHash);
    if (cached !== undefined) {
      return cached.ok ? entries.lastHitSettled() : Promise.resolve(cached);
    }
    return loadMiss(kind, tokenHash, `${kind}:${tokenHash}`);
  }

  /** Past L1: the loader, then (on `unavailable` only) a bounded stale answer. */
  function loadMiss(kind: string, tokenHash: string, key: string): Promise<ResolveResult> {
    counters.forKind(kind).misses++;
    const loading = loader.load(kind, tokenHash, key);
    return stale.enabled ? loading.then((result) => stale.orElse(kind, key, result)) : loading;
  }

  /** Where the last {@link local} that found nothing left off, so resolve loads without redoing it. */
  let missKind = '';
  let missHash = '';
  let missKey = '';

  /**
   * Everything `resolve` does before any I/O: kind, hash, L1, format. The order is the hit
   * path's: a token with a live L1 entry was checked in full when it was loaded (an entry exists
   * only for a hash the store knew), so a hit needs only the kind (prefix and length) and the
   * hash; the checksum is verified before anything is loaded or remembered as unknown.
   */
  function local(kinds: string | readonly string[], token: string): ResolveResult | undefined {
    const kind = format.kindOf(token);
    missSplit = false;
    if (kind === undefined) {
      counters.malformed++;
      return MALFORMED;
    }
    if (secrets !== undefined && format.isSplit(kind)) return localSplit(kinds, token);
    let tokenHash: string;
    try {
      tokenHash = hashToken(token);
    } catch {
      // A hasher that throws is a broken store, not a bad token (unless the token is bad).
      if (!format.parse(token).ok) {
        counters.malformed++;
        return MALFORMED;
      }
      counters.forKind(kind).storeErrors++;
      return UNAVAILABLE;
    }
    const accepted = typeof kinds === 'string' ? kinds === kind : kinds.includes(kind);
    const cached = accepted ? entries.lookup(kind, tokenHash) : undefined;
    if (cached !== undefined) return cached;
    return checked(token, kind, tokenHash, accepted);
  }

  /** {@link local} past an L1 miss (or a kind not accepted): the full format check first. */
  function checked(
    token: string,
    kind: string,
    tokenHash: string,
    accepted: boolean,
  ): ResolveResult | undefined {
    const parsed = format.parse(token);
    if (!parsed.ok || parsed.kind !== kind) {
      counters.malformed++;
      return MALFORMED;
    }
    // A well-formed token of another kind is not a syntax error, just not valid here.
    if (!accepted) return INVALID;
    missKind = kind;
    missHash = tokenHash;
    missKey = `${kind}:${tokenHash}`;
    return undefined;
  }

  /**
   * {@link local} for a split token (`<prefix><id>.<secret>`): the full parse first (the secret
   * is needed), then the identity by the id's hash and the verdict the verified-secret cache
   * already has for this secret, if any.
   */
  function localSplit(kinds: string | readonly string[], token: string): ResolveResult | undefined {
    const parsed = format.parse(token);
    if (!parsed.ok || parsed.secret === undefined) {
      counters.malformed++;
      return MALFORMED;
    }
    const accepted =
      typeof kinds === 'string' ? kinds === parsed.kind : kinds.includes(parsed.kind);
    // A well-formed token of another kind is not a syntax error, just not valid here.
    if (!accepted) return INVALID;
    const known = secrets!.peek(parsed.kind, parsed.id!, parsed.secret);
    missSplit = known === undefined;
    return known;
  }

  function resolve(kinds: string | readonly string[], token: string): Promise<ResolveResult> {
    const known = local(kinds, token);
    // A positive answer comes only from an L1 hit (for a split token, one whose secret the
    // verified-secret cache knew): its entry holds the answer already settled.
    if (known !== undefined) return known.ok ? entries.lastHitSettled() : Promise.resolve(known);
    if (missSplit) {
      // Parsed again rather than kept between calls: no secret outlives its request.
      missSplit = false;
      const parsed = format.parse(token) as { kind: string; id: string; secret: string };
      return secrets!.resolve(parsed.kind, parsed.id, parsed.secret);
    }
    return loadMiss(missKind, missHash, missKey);
  }

  function resolveHash(kind: string, tokenHash: string): Promise<ResolveResult> {
    // `kind:hash` must split at the kind's end: a kind with ':' is no kind of ours.
    // A split kind's identity is only half the answer: its secret must be checked too.
    if (
      typeof kind !== 'string' ||
      kind === '' ||
      kind.includes(':') ||
      typeof tokenHash !== 'string' ||
      format.isSplit(kind)
    ) {
      return Promise.resolve(INVALID);
    }
    return resolveKey(kind, tokenHash);
  }

  async function invalidate(kind: string, tokenHash: string): Promise<void> {
    checkKind('invalidate', kind);
    const message: InvalidationMessage = { kind, tokenHash, reason: 'invalidated' };
    await invalidation.apply(message, { clearTier: true, publish: true });
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
      await invalidation.apply(message, { clearTier: true, publish: true });
    }
    return hashes.length > 0;
  }

  const secrets = createSplitSecrets(format, options.secretVerification, {
    store,
    entries,
    loader,
    counters,
    clock,
    maxEntries,
    negativeTtl,
    timeoutMs: storeTimeoutMs,
    touches,
    touchInterval,
  });
  if (secrets) invalidation.onInvalidate(secrets.onInvalidate);
  /** Set by {@link local} when a split token needs its secret checked: resolve re-parses then. */
  let missSplit = false;

  const busReady = invalidation.startBuses();
  // Surface start failures through ready(), not as an unhandled rejection.
  busReady.catch(() => {});

  return {
    resolve,
    peek: local,
    resolveHash,
    revoke,
    invalidate,
    invalidateScope: (scope: InvalidationScope) => scoped.invalidate(scope),
    hashToken: secrets ? splitAwareHasher(format, hashToken) : hashToken,
    tokenKinds: format.kinds,
    onInvalidate: (listener: (event: InvalidationEvent) => void) =>
      invalidation.onInvalidate(listener),
    clear: () => invalidation.clear(),
    flushTouches: () => touches.flush(),
    ready: () => busReady,
    stats: (): AuthCacheStats =>
      snapshotStats({
        enabled,
        counters,
        entries,
        pending,
        tier,
        buses,
        scopeCounts: () => scoped.counts(),
      }),
    async close() {
      pending.close();
      await touches.close();
      await Promise.all(buses.map((bus) => bus.close()));
    },
  };
}
