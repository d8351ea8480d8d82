import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  type Identity,
  identityEpochFields,
  type SharedTier,
  type SharedValue,
  scopeEpochField,
} from '@authcache/core';
import type { Cluster, Redis } from 'ioredis';
import {
  type BreakerOptions,
  type BreakerState,
  CircuitOpenError,
  createBreaker,
  RedisTimeoutError,
  withTimeout,
} from './breaker.js';
import { FILL, GET, INVALIDATE, SCOPE, type Script } from './tier-scripts.js';

/** Options of {@link createRedisTier}. Every time is in milliseconds. */
export interface RedisTierOptions {
  /**
   * An ioredis `Redis` or `Cluster` client. The tier never closes it. Recommended client
   * options, so that an outage fails fast instead of queueing requests:
   * `{ enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 1_000 }`
   * (for a `Cluster`, `enableOfflineQueue: false` at the top level and the rest in
   * `redisOptions`). The tier's own `timeoutMs` bounds every call either way.
   */
  redis: Redis | Cluster;
  /**
   * Prepended to every key. Use one per application (and per test). Keys look like
   * `<prefix>{<kind>:<hash>}` (value) and `<prefix>{<kind>:<hash>}:g` (generation); the braces
   * are a Redis Cluster hash tag, so a key and its generation always live in the same slot.
   * Default: `'authcache:'`.
   */
  prefix?: string;
  /**
   * Upper bound of every Redis call. A call that takes longer counts as a failure and is
   * answered as a miss (the resolver then asks the store). `0` or a negative value disables the
   * bound (not recommended). Default: `50`.
   */
  timeoutMs?: number;
  /**
   * Circuit breaker: after `failureThreshold` consecutive failures the tier skips Redis for
   * `cooldownMs`, then lets one probe through. `false` disables it (every call then tries
   * Redis and may cost up to `timeoutMs`). Default: `{ failureThreshold: 5, cooldownMs: 5_000 }`.
   */
  breaker?: BreakerOptions | false;
  /**
   * How long a key's generation counter lives after its last invalidation. It must outlive any
   * store lookup that could race the invalidation; it is always at least the tombstone's
   * lifetime. Default: `3_600_000` (one hour).
   */
  generationTtlMs?: number;
  /**
   * Key of HMAC-SHA256 signatures over every value (bound to its Redis key, so a value cannot
   * be moved to another token's key). A value whose MAC is missing or wrong is a miss (counted
   * in `stats().badSignatures`), never an identity. At least 32 bytes; share it among the
   * instances like any other secret, and rotate it by deploying a new one (old values then read
   * as misses until they expire).
   *
   * **Without a key, Redis is inside the trust boundary**: values are plain JSON, and anyone who
   * can write to this Redis (or its prefix) can mint any identity for any token hash. Leave it
   * unset only when Redis is as trusted as the database itself. Default: none.
   */
  signingKey?: string | Buffer;
}

/** Counters and state returned by `tier.stats()`. */
export interface RedisTierStats {
  /** Current circuit breaker state. */
  state: BreakerState;
  /** Gets that found a value (identity or tombstone). */
  hits: number;
  /** Gets that found nothing (or an unreadable value). */
  misses: number;
  /** Calls that failed: Redis errors, timeouts and skipped calls (circuit open). */
  errors: number;
  /** Calls that took longer than `timeoutMs`. */
  timeouts: number;
  /** Calls not sent because the circuit was open. */
  shortCircuited: number;
  /** How many times the circuit opened. */
  breakerOpens: number;
  /** Consecutive failures so far (reset by any success). */
  consecutiveFailures: number;
  /** Fills stored, and fills refused (a value or tombstone was there, or the generation moved). */
  fills: number;
  fillsRefused: number;
  invalidations: number;
  /** Values ignored because their signature was missing or wrong (only with `signingKey`). */
  badSignatures: number;
  /** Values read as misses (and deleted) because a scoped invalidation covered them. */
  scopeStale: number;
  /** Scoped invalidations recorded. */
  scopeInvalidations: number;
  /** Touch claims asked and won. */
  touchClaims: number;
  touchClaimsWon: number;
}

/** A {@link SharedTier} backed by Redis, with metrics. */
export interface RedisTier extends SharedTier {
  /** Counters and the breaker state. */
  stats(): RedisTierStats;
  /** Does nothing to the client (the caller owns it); present for symmetry. */
  close(): Promise<void>;
}

/** What a Redis value holds. Never a token or a secret: keys are `kind:hash` already. */
type StoredValue =
  | {
      t: 'identity';
      identity: Identity;
      expiresAt: number | null;
      generation: number;
      /** When the filling load started (epoch ms), see `SharedValue.filledAt`. */
      filledAt?: number;
    }
  | { t: 'revoked' };

/** The tombstone's JSON. It starts with `{"t":"revoked"`, which the invalidate script checks. */
const TOMBSTONE = '{"t":"revoked"}';

function parseValue(json: string): SharedValue | undefined {
  try {
    const stored = JSON.parse(json) as StoredValue;
    if (stored.t === 'revoked') return { type: 'revoked' };
    if (stored.t === 'identity' && stored.identity && typeof stored.identity.tokenId === 'string') {
      return typeof stored.filledAt === 'number'
        ? { type: 'identity', identity: stored.identity, filledAt: stored.filledAt }
        : { type: 'identity', identity: stored.identity };
    }
  } catch {
    // Unreadable (e.g. written by an incompatible version): a miss.
  }
  return undefined;
}

/**
 * Reads a raw tier value for offline inspection (`authcache status --verify`), without checking
 * its signature: `signed` says whether it carries one. `undefined` value: unreadable.
 */
export function inspectTierValue(raw: string): { value: SharedValue | undefined; signed: boolean } {
  // JSON ends with '}'; a signed value is `json.mac` (base64url, no '.').
  const signed = !raw.endsWith('}');
  const json = signed ? raw.slice(0, raw.lastIndexOf('.')) : raw;
  return { value: parseValue(json), signed };
}

/**
 * A Redis shared tier for `createAuthCache({ tier })`.
 *
 * - `get` reads a key's value, generation and remaining lifetime in one script call.
 * - `fill` stores only when no value is there (`SET … PX ttl NX`, so a tombstone always wins)
 *   and the generation still equals the one read before the store lookup (atomic Lua script).
 * - `invalidate` bumps the generation and writes a tombstone (or drops the value).
 * - `claimTouch` is `SET <prefix>touch:<key> 1 NX PX window`: one instance per window writes
 *   `last_used_at`.
 *
 * Every call is bounded by `timeoutMs` and guarded by a circuit breaker; every failure rejects,
 * which the resolver treats as a miss (never as an auth failure, never as a bypass).
 *
 * Trust boundary: without `signingKey`, whoever can write to this Redis can make the resolver
 * accept any token as any identity. With it, values are HMAC-SHA256-signed and bound to their
 * key; forged, altered or moved values are misses.
 */
export function createRedisTier(options: RedisTierOptions): RedisTier {
  const { redis } = options;
  if (!redis) throw new TypeError('createRedisTier: options.redis is required');
  const prefix = options.prefix ?? 'authcache:';
  const timeoutMs = options.timeoutMs ?? 50;
  const generationTtlMs = options.generationTtlMs ?? 3_600_000;
  if (!Number.isFinite(timeoutMs))
    throw new TypeError('createRedisTier: timeoutMs must be a finite number');
  if (!(generationTtlMs > 0))
    throw new TypeError('createRedisTier: generationTtlMs must be positive');
  const breaker = createBreaker(options.breaker, () => performance.now());
  const { signingKey } = options;
  if (signingKey !== undefined) {
    const bytes =
      typeof signingKey === 'string' ? Buffer.byteLength(signingKey) : signingKey.length;
    if (!(bytes >= 32))
      throw new TypeError('createRedisTier: signingKey must be at least 32 bytes');
  }

  const counters = {
    hits: 0,
    misses: 0,
    errors: 0,
    timeouts: 0,
    fills: 0,
    fillsRefused: 0,
    invalidations: 0,
    badSignatures: 0,
    scopeStale: 0,
    scopeInvalidations: 0,
    touchClaims: 0,
    touchClaimsWon: 0,
  };

  const valueKey = (key: string) => `${prefix}{${key}}`;
  /** Scope epochs: one hash, field → epoch ms (see `SharedTier.invalidateScope`). */
  const scopesKey = `${prefix}{scopes}`;
  /** A Lua script may only touch keys of one slot in a Cluster: epochs are then read apart. */
  const cluster = 'isCluster' in redis && redis.isCluster === true;
  const generationKey = (key: string) => `${prefix}{${key}}:g`;

  /** base64url HMAC over the Redis key's length, the key and the JSON. */
  const mac = (redisKey: string, json: string) =>
    createHmac('sha256', signingKey as string | Buffer)
      .update(`${redisKey.length}:${redisKey}`)
      .update(json)
      .digest();
  /** What is written: the JSON, then (with a key) `.` and its MAC. JSON never ends in a MAC. */
  const seal = (redisKey: string, json: string) =>
    signingKey === undefined ? json : `${json}.${mac(redisKey, json).toString('base64url')}`;
  /** The JSON of a stored value, or `undefined` when its MAC is missing or wrong. */
  const open = (redisKey: string, raw: string): string | undefined => {
    if (signingKey === undefined) return raw;
    const dot = raw.lastIndexOf('.');
    const json = dot < 0 ? raw : raw.slice(0, dot);
    const given = dot < 0 ? Buffer.alloc(0) : Buffer.from(raw.slice(dot + 1), 'base64url');
    const expected = mac(redisKey, json);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      counters.badSignatures++;
      return undefined;
    }
    return json;
  };

  async function guarded<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await breaker.run(() => withTimeout(call(), timeoutMs));
    } catch (error) {
      counters.errors++;
      if (error instanceof RedisTimeoutError) counters.timeouts++;
      // Errors never carry a key or a value: keys are hashes, but keep logs boring anyway.
      if (error instanceof CircuitOpenError || error instanceof RedisTimeoutError) throw error;
      throw new Error(
        `authcache: Redis call failed: ${(error as Error)?.message ?? String(error)}`,
      );
    }
  }

  async function evalScript(
    s: Script,
    keys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    try {
      return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).includes('NOSCRIPT')) throw error;
      return await redis.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  return {
    async get(key) {
      const kind = key.slice(0, key.indexOf(':'));
      const keys = cluster
        ? [valueKey(key), generationKey(key)]
        : [valueKey(key), generationKey(key), scopesKey];
      const [raw, generation, ttl, stale] = (await guarded(() =>
        evalScript(GET, keys, [kind]),
      )) as [string | null, string | null, number, number];
      if (Number(stale) === 1) counters.scopeStale++;
      const json = raw ? open(valueKey(key), raw) : undefined;
      let value = json === undefined ? undefined : parseValue(json);
      if (cluster && value?.type === 'identity') {
        // Cluster: the epochs live in another slot, so a second call (only for identities).
        const fields = identityEpochFields(kind, value.identity);
        const epochs = (await guarded(() => redis.hmget(scopesKey, ...fields))) as (
          | string
          | null
        )[];
        const filledAt = value.filledAt ?? -1;
        if (epochs.some((epoch) => epoch !== null && filledAt < Number(epoch))) {
          counters.scopeStale++;
          value = undefined;
        }
      }
      if (value) counters.hits++;
      else counters.misses++;
      return {
        value,
        generation: Number(generation ?? 0) || 0,
        ...(value && ttl > 0 ? { ttlMs: ttl } : {}),
      };
    },

    async invalidateScope(scope, epoch, keepMs) {
      const keep = Math.max(1, Math.ceil(keepMs));
      await guarded(() =>
        evalScript(
          SCOPE,
          [scopesKey],
          [scopeEpochField(scope), Math.ceil(epoch), keep, Date.now()],
        ),
      );
      counters.scopeInvalidations++;
    },

    async fill(key, value, ttlMs, generation) {
      const px = Math.ceil(ttlMs);
      if (!(px > 0)) return;
      const stored: StoredValue =
        value.type === 'identity'
          ? {
              t: 'identity',
              identity: value.identity,
              expiresAt: value.identity.expiresAt,
              generation,
              ...(typeof value.filledAt === 'number' ? { filledAt: value.filledAt } : {}),
            }
          : { t: 'revoked' };
      const redisKey = valueKey(key);
      const sealed = seal(redisKey, JSON.stringify(stored));
      const done = await guarded(() =>
        evalScript(FILL, [redisKey, generationKey(key)], [generation, sealed, px]),
      );
      if (Number(done) === 1) counters.fills++;
      else counters.fillsRefused++;
    },

    async invalidate(key, tombstoneMs) {
      const px = Math.max(0, Math.ceil(tombstoneMs));
      const generationPx = Math.max(Math.ceil(generationTtlMs), px);
      const redisKey = valueKey(key);
      await guarded(() =>
        evalScript(
          INVALIDATE,
          [redisKey, generationKey(key)],
          [px, generationPx, seal(redisKey, TOMBSTONE)],
        ),
      );
      counters.invalidations++;
    },

    async claimTouch(key, windowMs) {
      const px = Math.ceil(windowMs);
      // A zero window means "write on every use": nothing to coordinate.
      if (!(px > 0)) return true;
      counters.touchClaims++;
      const won = (await guarded(() => redis.set(`${prefix}${key}`, '1', 'PX', px, 'NX'))) === 'OK';
      if (won) counters.touchClaimsWon++;
      return won;
    },

    stats() {
      return {
        ...counters,
        state: breaker.state,
        shortCircuited: breaker.shortCircuited,
        breakerOpens: breaker.opens,
        consecutiveFailures: breaker.consecutiveFailures,
      };
    },

    async close() {},
  };
}
