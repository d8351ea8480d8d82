/**
 * A token source: one credential (an IAM password, an OAuth access token, a sidecar's token)
 * fetched once, served from memory, refreshed in the background ahead of its expiry.
 *
 * States: cold (no token) → a `get()` starts one fetch that every concurrent caller shares;
 * fresh → `get()` answers from memory; refreshing (from `expiresAt − refreshBefore`) → the old
 * token is still served while one background fetch runs; failing → the fetch is retried with
 * capped exponential backoff and the old token is served until `expiresAt − hardWindow`, then
 * `get()` throws {@link TokenUnavailableError} (never an expired token); closed → timers
 * cleared, the in-flight fetch aborted through its signal, `get()` throws.
 */
import { createBackoff } from '@authcache/core';
import {
  InvalidTokenResultError,
  TokenFetchTimeoutError,
  TokenSourceClosedError,
  TokenUnavailableError,
} from './errors.js';
import { persistedFetch } from './persist.js';
import type { Clock, TokenResult, TokenSource, TokenSourceOptions } from './types.js';

export type {
  Clock,
  PersistedToken,
  TokenPersistence,
  TokenResult,
  TokenSource,
  TokenSourceLogger,
  TokenSourceOptions,
  TokenSourceStats,
} from './types.js';

/** The default clock: `Date.now` and global timers, unref'd so no source keeps a process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The default `refreshBefore`: max(10 % of the lifetime, 45 s), capped at half the lifetime. */
export function defaultRefreshBefore(lifetimeMs: number): number {
  return Math.min(Math.max(lifetimeMs * 0.1, 45_000), lifetimeMs / 2);
}

interface Held {
  token: string;
  expiresAt: number;
  fetchedAt: number;
  refreshAt: number;
}

interface InFlight {
  promise: Promise<Held>;
  controller: AbortController;
  timeout: unknown;
}

/** Creates a {@link TokenSource}. Nothing is fetched until the first `get()`. */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  const name = options.name ?? 'token';
  const clock = options.clock ?? systemClock;
  const hardWindow = options.hardWindow ?? 1_000;
  const fetchTimeout = options.fetchTimeout ?? 60_000;
  const idleCycles = options.idleCycles ?? Number.POSITIVE_INFINITY;
  const minRefreshInterval = options.minRefreshInterval ?? 1_000;
  const backoff = createBackoff({ initialMs: 1_000, maxMs: 15_000, ...options.retry });
  const fetchToken = options.persist
    ? persistedFetch(options.fetch, options.persist, {
        name,
        clock,
        hardWindow,
        logger: options.logger,
      })
    : options.fetch;
  const refreshBefore = (lifetime: number) => {
    const chosen =
      typeof options.refreshBefore === 'function'
        ? options.refreshBefore(lifetime)
        : (options.refreshBefore ?? defaultRefreshBefore(lifetime));
    return Math.min(Math.max(chosen, 0), lifetime / 2);
  };
  if (!(hardWindow >= 0)) throw new TypeError('createTokenSource: hardWindow must be ≥ 0');
  if (!(fetchTimeout > 0)) throw new TypeError('createTokenSource: fetchTimeout must be > 0');

  let held: Held | undefined;
  let inflight: InFlight | undefined;
  let timer: unknown;
  let timerKind: 'refresh' | 'retry' | undefined;
  let lastError: unknown;
  let closed = false;
  let idle = false;
  let cyclesWithoutRead = 0;
  let lastReadAt = Number.NEGATIVE_INFINITY;
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  const counters = {
    hits: 0,
    waits: 0,
    fetches: 0,
    fetchesOk: 0,
    fetchesFailed: 0,
    refreshes: 0,
    servedStale: 0,
    unavailable: 0,
  };

  const usable = (h: Held | undefined, now: number): h is Held =>
    h !== undefined && now < h.expiresAt - hardWindow;

  function clearTimer() {
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
    timerKind = undefined;
  }

  function schedule(kind: 'refresh' | 'retry', delay: number) {
    clearTimer();
    timerKind = kind;
    timer = clock.setTimeout(
      () => {
        timer = undefined;
        timerKind = undefined;
        onTimer(kind);
      },
      Math.max(0, delay),
    );
  }

  function onTimer(kind: 'refresh' | 'retry') {
    if (closed || inflight) return;
    const now = clock.now();
    if (kind === 'refresh' && cyclesWithoutRead >= idleCycles) {
      idle = true; // nobody reads it: stop until the next get()
      return;
    }
    if (kind === 'retry' && !usable(held, now) && lastReadAt < lastFailureAt) {
      idle = true; // nothing valid to keep fresh and nobody asked since it failed
      return;
    }
    if (kind === 'refresh') cyclesWithoutRead++;
    counters.refreshes++;
    startFetch().catch(() => {}); // failures are recorded and retried by startFetch
  }

  function toHeld(result: TokenResult, now: number): Held {
    if (typeof result?.token !== 'string' || result.token === '') {
      throw new InvalidTokenResultError(name, 'fetch answered no token');
    }
    const expiresAt =
      result.expiresAt !== undefined
        ? typeof result.expiresAt === 'number'
          ? result.expiresAt
          : result.expiresAt.getTime()
        : result.ttl !== undefined
          ? now + result.ttl
          : Number.NaN;
    if (!Number.isFinite(expiresAt)) {
      throw new InvalidTokenResultError(name, 'fetch answered neither expiresAt nor ttl');
    }
    const lifetime = expiresAt - now;
    if (lifetime <= hardWindow) {
      throw new InvalidTokenResultError(
        name,
        `token expires in ${lifetime} ms (hard window ${hardWindow} ms)`,
      );
    }
    return {
      token: result.token,
      expiresAt,
      fetchedAt: now,
      refreshAt: expiresAt - refreshBefore(lifetime),
    };
  }

  function startFetch(): Promise<Held> {
    if (inflight) return inflight.promise;
    if (closed) return Promise.reject(new TokenSourceClosedError(name));
    clearTimer();
    idle = false;
    counters.fetches++;
    const controller = new AbortController();
    let reject!: (error: unknown) => void;
    // Settles as soon as the signal aborts, even if `fetch` ignores it.
    const aborted = new Promise<never>((_, r) => {
      reject = r;
    });
    const timeout = clock.setTimeout(
      () => controller.abort(new TokenFetchTimeoutError(name, fetchTimeout)),
      fetchTimeout,
    );
    const onAbort = () => reject(controller.signal.reason);
    controller.signal.addEventListener('abort', onAbort, { once: true });
    const promise = (async () => {
      try {
        const result = await Promise.race([
          Promise.resolve().then(() => fetchToken(controller.signal)),
          aborted,
        ]);
        if (closed) throw new TokenSourceClosedError(name);
        const now = clock.now();
        const next = toHeld(result, now);
        held = next;
        lastError = undefined;
        backoff.reset();
        counters.fetchesOk++;
        schedule('refresh', next.refreshAt - now);
        return next;
      } catch (error) {
        if (closed) throw new TokenSourceClosedError(name);
        counters.fetchesFailed++;
        lastError = error;
        lastFailureAt = clock.now();
        const delay = backoff.next();
        options.logger?.warn('token fetch failed; retrying', {
          source: name,
          attempt: backoff.attempts,
          retryInMs: Math.round(delay),
          error: describe(error),
          servingOldTokenForMs: held ? Math.max(0, held.expiresAt - hardWindow - lastFailureAt) : 0,
        });
        schedule('retry', delay);
        throw new TokenUnavailableError(name, { cause: error });
      } finally {
        clock.clearTimeout(timeout);
        controller.signal.removeEventListener('abort', onAbort);
        inflight = undefined;
      }
    })();
    inflight = { promise, controller, timeout };
    // The waiters handle rejections; the background path must not count as unhandled.
    promise.catch(() => {});
    return promise;
  }

  async function wait(): Promise<string> {
    counters.waits++;
    try {
      return (await startFetch()).token;
    } catch (error) {
      if (error instanceof TokenUnavailableError) counters.unavailable++;
      throw error;
    }
  }

  function get(): Promise<string> {
    if (closed) return Promise.reject(new TokenSourceClosedError(name));
    const now = clock.now();
    lastReadAt = now;
    cyclesWithoutRead = 0;
    if (usable(held, now)) {
      counters.hits++;
      if (lastError !== undefined) counters.servedStale++;
      if (idle && !inflight && timer === undefined) {
        idle = false;
        if (now >= held.refreshAt) {
          counters.refreshes++;
          startFetch().catch(() => {});
        } else schedule('refresh', held.refreshAt - now);
      }
      return Promise.resolve(held.token);
    }
    if (inflight) return wait();
    if (lastError !== undefined && timerKind === 'retry') {
      // Failing and backing off: answer at once; the retry loop goes on in the background.
      counters.unavailable++;
      return Promise.reject(new TokenUnavailableError(name, { cause: lastError }));
    }
    return wait();
  }

  function refresh(rejected?: string): Promise<string> {
    if (closed) return Promise.reject(new TokenSourceClosedError(name));
    const now = clock.now();
    if (rejected !== undefined) {
      if (inflight) return wait(); // a fetch is already on its way: share it
      // Already replaced, or refused again right after a forced refresh (a service that rejects
      // every token must not turn each request into a token request): answer what we hold.
      if (
        usable(held, now) &&
        (held.token !== rejected || now - lastForcedAt < minRefreshInterval)
      ) {
        return Promise.resolve(held.token);
      }
      lastForcedAt = now;
      return wait(); // a request is waiting on it
    }
    // Asked for by its owner (a file changed): a background refresh, not a caller's wait.
    counters.refreshes++;
    return startFetch().then((next) => next.token);
  }

  function close() {
    if (closed) return;
    closed = true;
    clearTimer();
    held = undefined;
    const current = inflight;
    if (current) {
      clock.clearTimeout(current.timeout);
      current.controller.abort(new TokenSourceClosedError(name));
    }
  }

  return {
    get,
    refresh,
    close,
    stats: () => {
      const now = clock.now();
      return {
        ...counters,
        consecutiveFailures: backoff.attempts,
        expiresInMs: held ? Math.max(0, held.expiresAt - now) : 0,
        idle: idle ? 1 : 0,
      };
    },
    get closed() {
      return closed;
    },
    name,
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}
