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
import { type BackoffOptions, createBackoff } from '@authcache/core';
import {
  InvalidTokenResultError,
  TokenFetchTimeoutError,
  TokenSourceClosedError,
  TokenUnavailableError,
} from './errors.js';

/** What a `fetch` answers: the token and when it expires (or, without an expiry, a `ttl`). */
export interface TokenResult {
  /** The credential itself. Never logged, never put in an error. */
  token: string;
  /** When the token stops being valid: a `Date` or epoch milliseconds. */
  expiresAt?: Date | number;
  /**
   * Lifetime in milliseconds from the moment the fetch answered, for providers that give no
   * expiry (an RDS IAM token lives 15 minutes). Ignored when `expiresAt` is set.
   */
  ttl?: number;
}

/** Time and timers of a source; inject one in tests. Timers it returns must not keep the process alive. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Where a source reports background failures. Never given a token. */
export interface TokenSourceLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link createTokenSource}. Every time is in milliseconds. */
export interface TokenSourceOptions {
  /**
   * Fetches a new token. Must honour `signal` (aborted by `close()` and by `fetchTimeout`); a
   * fetch that ignores it is abandoned anyway: its callers are answered at once.
   */
  fetch(signal: AbortSignal): Promise<TokenResult>;
  /** Names the source in errors, logs and the registry. Default: `'token'`. */
  name?: string;
  /**
   * How long before `expiresAt` the background refresh starts: a number, or a function of the
   * token's lifetime. Whatever it gives is capped at half the lifetime. Default: the larger of
   * 10 % of the lifetime and 45 s (so a 15-minute token is refreshed 90 s ahead, a 1-hour one
   * 6 minutes ahead, a 60-second one 30 s ahead).
   */
  refreshBefore?: number | ((lifetimeMs: number) => number);
  /**
   * A token is never served in its last `hardWindow` ms (clock skew, time in flight). Default: `1_000`.
   */
  hardWindow?: number;
  /**
   * Backoff between retries of a failed fetch (`createBackoff` of `@authcache/core`).
   * Default: `{ initialMs: 1_000, maxMs: 15_000, factor: 2, jitter: 0.2 }`.
   */
  retry?: BackoffOptions;
  /** A fetch slower than this is aborted and counts as failed. Default: `60_000`. */
  fetchTimeout?: number;
  /**
   * A source that is not read for this many refresh cycles stops refreshing (its next `get()`
   * starts again, waiting only if the token expired meanwhile). Default: `Infinity` (never idle);
   * {@link createTokenSources} passes `3`.
   */
  idleCycles?: number;
  /**
   * Forced refreshes (`refresh(rejected)`, used on a 401) of a token fetched less than this long
   * ago answer that token instead of fetching again, so a service that rejects every token cannot
   * turn each request into a token-endpoint call. Default: `1_000`.
   */
  minRefreshInterval?: number;
  /** Time and timers. Default: `Date.now` and the global timers, `unref()`ed. */
  clock?: Clock;
  /** Gets a line per failed fetch. Default: none. */
  logger?: TokenSourceLogger;
}

/** Counters since creation and current values of one source: plain numbers. */
export interface TokenSourceStats {
  /** `get()` calls answered from memory without waiting. */
  hits: number;
  /** `get()` calls that waited for a fetch (cold source, expired token, forced refresh). */
  waits: number;
  /** Fetches started, succeeded and failed (timeouts included). */
  fetches: number;
  fetchesOk: number;
  fetchesFailed: number;
  /** Fetches started in the background ahead of expiry (retries of a failed one included). */
  refreshes: number;
  /** `get()` calls answered with the old token because the refresh is failing. */
  servedStale: number;
  /** `get()` calls that threw {@link TokenUnavailableError}. */
  unavailable: number;
  /** Failures since the last successful fetch (0 when healthy). */
  consecutiveFailures: number;
  /** Milliseconds until the held token expires; 0 without one. */
  expiresInMs: number;
  /** 1 when the source stopped refreshing because nobody read it, else 0. */
  idle: number;
}

/** One outbound credential. Every method is bound: `password: source.get` works. */
export interface TokenSource {
  /** The current token, from memory; waits only when there is none valid (see the module doc). */
  get(): Promise<string>;
  /**
   * Fetches a new token now (joining a fetch in flight). With `rejected`, the token a server just
   * refused: if the source already holds another one, that one is answered without fetching.
   */
  refresh(rejected?: string): Promise<string>;
  stats(): TokenSourceStats;
  /** Stops the timers and aborts a fetch in flight; waiting callers get {@link TokenSourceClosedError}. */
  close(): void;
  readonly closed: boolean;
  readonly name: string;
}

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
          Promise.resolve().then(() => options.fetch(controller.signal)),
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
    if (
      rejected !== undefined &&
      usable(held, now) &&
      (held.token !== rejected || now - held.fetchedAt < minRefreshInterval)
    ) {
      return Promise.resolve(held.token);
    }
    return wait();
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
