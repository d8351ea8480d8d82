/**
 * The verified-secret cache of split tokens (`<prefix><id>.<secret>`).
 *
 * The identity is loaded by id through the ordinary path (L1 → tier → store, single-flight,
 * expiry clamp, tombstones, buses): the key is `kind:hashTokenId(id)`. The secret is checked
 * here: once by the store's slow verifier, then, for the life of that L1 entry, by an
 * HMAC-SHA256 under a random per-process key and `crypto.timingSafeEqual`. The plaintext secret
 * is never kept; the HMAC never leaves the process (no tier, no bus, no log).
 *
 * A verdict belongs to the identity object it was reached for: every load (a TTL window, a
 * reload after an invalidation, refresh-ahead) makes a new frozen identity, so a changed row, a
 * revoke or an expiry can never be answered by an older verdict. Wrong secrets are remembered
 * in a bounded LRU for `negativeTtl` (one slow hash per distinct guess per window), and slow
 * verifications are bounded per id and per process (see `limiter.ts`).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { LRUCache } from 'lru-cache';
import type { Counters } from '../cache/counters.js';
import type { Entries } from '../cache/entries.js';
import type { Loader } from '../cache/loader.js';
import { attempt, INVALID, UNAVAILABLE } from '../cache/results.js';
import { hashTokenId, type TokenFormat } from '../tokens.js';
import type { TouchScheduler } from '../touch.js';
import type { Identity, InvalidationEvent, ResolveResult, TokenStore } from '../types.js';
import { createVerificationLimiter } from './limiter.js';

/** A load or verification that keeps being invalidated under our feet is retried this often. */
const MAX_ATTEMPTS = 3;
const TIMEOUT = Symbol('verification timeout');

/** Bounds on slow secret verifications (the `secretVerification` option of `createAuthCache`). */
export interface SecretVerificationOptions {
  /**
   * Slow verifications running at once in this process, all ids together. Keeps a flood of
   * guesses from pinning every core (and the libuv threadpool `crypto.scrypt` runs on).
   * Default: half the cores, at most the libuv threadpool size − 1 (3 by default), at least 1.
   */
  maxConcurrent?: number;
  /** Slow verifications of one id running at once. Default: `1`. */
  maxConcurrentPerId?: number;
  /**
   * Verifications allowed to wait for a slot, all ids together; one more is answered
   * `unavailable` (503 + `Retry-After`) at once. Default: `1_000`.
   */
  maxWaiting?: number;
  /** Verifications of one id allowed to wait; one more is `unavailable`. Default: `16`. */
  maxWaitingPerId?: number;
}

/**
 * `auth.hashToken` when some kinds are split: a split token is announced (revokes, invalidations,
 * the ws guard's live sockets) under its id's hash; other tokens under `hashToken`'s.
 */
export function splitAwareHasher(
  format: TokenFormat,
  hashToken: (token: string) => string,
): (token: string) => string {
  return (token) => {
    const parsed = format.parse(token);
    return parsed.ok && parsed.id !== undefined ? hashTokenId(parsed.id) : hashToken(token);
  };
}

/**
 * The touch recorder the entries and the loader get: split tokens are left out there (their
 * identity is found before their secret is checked) and recorded by the verified-secret cache
 * once the secret passed, so a wrong secret never marks a token as used.
 */
export function touchesForCache(
  format: TokenFormat,
  touches: Pick<TouchScheduler, 'record'>,
): Pick<TouchScheduler, 'record'> {
  const split = new Set(Object.keys(format.kinds).filter((kind) => format.isSplit(kind)));
  if (split.size === 0) return touches;
  return {
    record(key, kind, tokenId) {
      if (!split.has(kind)) touches.record(key, kind, tokenId);
    },
  };
}

/**
 * Half the cores, and fewer than the libuv threadpool's threads (`UV_THREADPOOL_SIZE`, default
 * 4), so that file I/O and DNS, which share the pool with `crypto.scrypt`, keep a thread.
 */
function defaultConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(Math.floor(availableParallelism() / 2), pool - 1));
}

/**
 * The verified-secret part of an auth cache, or `undefined` when no kind is split. Throws a
 * `TypeError` for a split kind over a store without `verifySecret`, or a bad bound.
 */
export function createSplitSecrets(
  format: TokenFormat,
  options: SecretVerificationOptions | undefined,
  base: Omit<VerifiedSecretsOptions, keyof Required<SecretVerificationOptions>>,
): VerifiedSecrets | undefined {
  const split = Object.keys(format.kinds).filter((kind) => format.isSplit(kind));
  if (split.length === 0) return undefined;
  if (typeof base.store.verifySecret !== 'function') {
    throw new TypeError(
      `createAuthCache: the split token kind(s) ${split.join(', ')} need a store with verifySecret (e.g. createFileTokenStore)`,
    );
  }
  const bound = (name: keyof SecretVerificationOptions, fallback: number, min: number) => {
    const value = options?.[name] ?? fallback;
    if (!Number.isInteger(value) || value < min) {
      throw new TypeError(
        `createAuthCache: secretVerification.${name} must be an integer ≥ ${min}`,
      );
    }
    return value;
  };
  return createVerifiedSecrets({
    ...base,
    maxConcurrent: bound('maxConcurrent', defaultConcurrency(), 1),
    maxConcurrentPerId: bound('maxConcurrentPerId', 1, 1),
    maxWaiting: bound('maxWaiting', 1_000, 0),
    maxWaitingPerId: bound('maxWaitingPerId', 16, 0),
  });
}

export interface VerifiedSecretsOptions {
  store: TokenStore;
  entries: Entries;
  loader: Loader;
  counters: Counters;
  clock: () => number;
  /** Bound of the verified and of the wrong-secret LRU. */
  maxEntries: number;
  /** How long a wrong secret is remembered; ≤ 0: not at all. */
  negativeTtl: number;
  /** Deadline of one `store.verifySecret` (the wait for a slot is not counted). */
  timeoutMs: number;
  /** Records uses of split tokens, once their secret passed (see {@link touchesForCache}). */
  touches: Pick<TouchScheduler, 'record'>;
  touchInterval: number;
  maxConcurrent: number;
  maxConcurrentPerId: number;
  maxWaiting: number;
  maxWaitingPerId: number;
}

export interface VerifiedSecrets {
  /** The answer without I/O (a verified secret, a remembered wrong one, a negative), or `undefined`. */
  peek(kind: string, id: string, secret: string): ResolveResult | undefined;
  resolve(kind: string, id: string, secret: string): Promise<ResolveResult>;
  /** Feed of the auth cache's invalidations: drops verdicts and stales running verifications. */
  onInvalidate(event: InvalidationEvent): void;
  /** Entries held (for tests and stats): verified secrets and remembered wrong ones. */
  readonly size: { verified: number; wrong: number };
}

interface Verified {
  /** The load this verdict was reached for. */
  readonly identity: Identity;
  readonly mac: Buffer;
  /** Before this time a hit need not tell the touch scheduler (it already knows). */
  touchDue: number;
}

interface Flight {
  readonly key: string;
  stale: boolean;
  promise: Promise<boolean | undefined>;
}

export function createVerifiedSecrets(options: VerifiedSecretsOptions): VerifiedSecrets {
  const { store, entries, loader, counters, clock, maxEntries, negativeTtl, timeoutMs } = options;
  const { touches, touchInterval } = options;
  /** Random per process: a MAC is worthless outside it, and nothing stores it elsewhere. */
  const macKey = randomBytes(32);
  const verified = new LRUCache<string, Verified>({ max: maxEntries });
  /** `key + ' ' + macHex` → the identity the secret was found wrong for, and until when. */
  const wrong = new LRUCache<string, { identity: Identity; deadline: number }>({ max: maxEntries });
  /** Verifications under way per `key + ' ' + macHex`: concurrent equal requests share one. */
  const flights = new Map<string, Flight>();
  const limiter = createVerificationLimiter(options);
  const counts = counters;

  // Kind and id are inside the MAC, so one secret used under two ids gives two unrelated MACs.
  const macOf = (kind: string, id: string, secret: string) =>
    createHmac('sha256', macKey).update(`${kind}\0${id}\0${secret}`).digest();

  /** A use, recorded only once the secret passed; at most once per `touchInterval` per entry. */
  function touch(key: string, good: Verified): void {
    const now = clock();
    if (now < good.touchDue) return;
    good.touchDue = now + touchInterval;
    touches.record(key, good.identity.kind, good.identity.tokenId);
  }

  /** The verdict already known for `identity` (no slow hash), else `undefined`. */
  function known(key: string, identity: Identity, mac: Buffer): boolean | undefined {
    const good = verified.get(key);
    if (good !== undefined && good.identity === identity && timingSafeEqual(good.mac, mac)) {
      touch(key, good);
      return true;
    }
    const bad = wrong.get(`${key} ${mac.toString('hex')}`);
    if (bad !== undefined && bad.identity === identity && clock() < bad.deadline) return false;
    return undefined;
  }

  function peek(kind: string, id: string, secret: string): ResolveResult | undefined {
    const tokenHash = hashTokenId(id);
    const key = `${kind}:${tokenHash}`;
    const cached = entries.lookup(kind, tokenHash);
    if (cached === undefined || !cached.ok) return cached;
    const verdict = known(key, cached.identity, macOf(kind, id, secret));
    if (verdict === true) {
      counts.secretHits++;
      return cached;
    }
    if (verdict === false) {
      counters.forKind(kind).negativeHits++;
      return INVALID;
    }
    return undefined;
  }

  /** `store.verifySecret`, bounded by `timeoutMs`; throws on error or timeout. */
  function verifyBounded(kind: string, id: string, secret: string): Promise<boolean> {
    const verify = store.verifySecret;
    if (!verify) return Promise.reject(new TypeError('the store has no verifySecret'));
    const answer = attempt(() => verify.call(store, kind, id, secret));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(TIMEOUT), timeoutMs);
      answer.then(
        (ok) => {
          clearTimeout(timer);
          resolve(ok === true);
        },
        (error) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /** One slow verification per key and MAC at a time; `undefined` = overloaded. */
  function verifyOnce(
    key: string,
    flightKey: string,
    kind: string,
    id: string,
    secret: string,
  ): Flight {
    const running = flights.get(flightKey);
    if (running) return running;
    const flight: Flight = { key, stale: false, promise: Promise.resolve(undefined) };
    flight.promise = limiter
      .run(key, async () => {
        counts.secretVerifications++;
        const ok = await verifyBounded(kind, id, secret);
        if (!ok) counts.secretMismatches++;
        return ok;
      })
      .finally(() => {
        if (flights.get(flightKey) === flight) flights.delete(flightKey);
      });
    flights.set(flightKey, flight);
    return flight;
  }

  async function resolve(kind: string, id: string, secret: string): Promise<ResolveResult> {
    const tokenHash = hashTokenId(id);
    const key = `${kind}:${tokenHash}`;
    const mac = macOf(kind, id, secret);
    const flightKey = `${key} ${mac.toString('hex')}`;
    for (let attempt_ = 1; attempt_ <= MAX_ATTEMPTS; attempt_++) {
      let result = entries.lookup(kind, tokenHash);
      if (result === undefined) {
        counters.forKind(kind).misses++;
        result = await loader.load(kind, tokenHash, key);
      }
      if (!result.ok) return result;
      const { identity } = result;
      const verdict = known(key, identity, mac);
      if (verdict === true) {
        counts.secretHits++;
        return result;
      }
      if (verdict === false) {
        counters.forKind(kind).negativeHits++;
        return INVALID;
      }
      const flight = verifyOnce(key, flightKey, kind, id, secret);
      let ok: boolean | undefined;
      try {
        ok = await flight.promise;
      } catch {
        counters.forKind(kind).storeErrors++;
        return UNAVAILABLE;
      }
      if (ok === undefined) {
        counts.secretBusy++;
        return UNAVAILABLE;
      }
      // The row changed (or was revoked) while its secret was being checked: the verdict may be
      // for the old row. Start over from the load, which now sees the new state.
      if (flight.stale) continue;
      if (ok) {
        // Several requests may settle the same flight: the first one records it.
        const good = verified.get(key);
        if (good === undefined || good.identity !== identity || !timingSafeEqual(good.mac, mac)) {
          const fresh: Verified = { identity, mac, touchDue: 0 };
          verified.set(key, fresh);
          touch(key, fresh);
        }
        return result;
      }
      if (negativeTtl > 0) wrong.set(flightKey, { identity, deadline: clock() + negativeTtl });
      return INVALID;
    }
    return UNAVAILABLE;
  }

  return {
    peek,
    resolve,
    onInvalidate(event) {
      if (event.type === 'flush') {
        verified.clear();
        wrong.clear();
        for (const flight of flights.values()) flight.stale = true;
        // Later requests must not join a verification that may have read the old row.
        flights.clear();
        return;
      }
      if (event.type === 'scope') {
        // Verdicts are bound to the identity object they were made for, and a scoped
        // invalidation drops those entries, so a reload brings new identities and new checks.
        // Only the verifications under way may have read a row this drops: start them over.
        for (const flight of flights.values()) flight.stale = true;
        flights.clear();
        return;
      }
      const key = `${event.kind}:${event.tokenHash}`;
      verified.delete(key);
      for (const [flightKey, flight] of flights) {
        if (flight.key !== key) continue;
        flight.stale = true;
        flights.delete(flightKey);
      }
    },
    get size() {
      return { verified: verified.size, wrong: wrong.size };
    },
  };
}
