/** The public shapes of a token source: what `fetch` answers, its options, its counters. */
import type { BackoffOptions } from '@authcache/core';

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
   * At most one forced refresh (`refresh(rejected)`, used on a 401) per this many ms: within it,
   * a rejected token is answered as it is instead of being fetched again, so a service that
   * rejects every token cannot turn each request into a token-endpoint call. Default: `1_000`.
   */
  minRefreshInterval?: number;
  /** Time and timers. Default: `Date.now` and the global timers, `unref()`ed. */
  clock?: Clock;
  /** Gets a line per failed fetch. Default: none. */
  logger?: TokenSourceLogger;
  /**
   * Keeps the token across restarts, encrypted (`sealedFile({ path, backend })` of
   * `@authcache/seal`): the first fetch of a new process reuses a saved token that is still
   * valid instead of calling `fetch`, and every fetched token is saved. A saved token that cannot
   * be read (another key backend, damaged, expired) is logged and replaced. Default: none.
   */
  persist?: TokenPersistence;
}

/** A saved token, as {@link TokenPersistence} stores it. */
export interface PersistedToken {
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Where a source keeps its token across restarts. Implementations must encrypt it at rest. */
export interface TokenPersistence {
  /** The saved token, or `undefined` when there is none. Throws when one exists but is unreadable. */
  load(): Promise<PersistedToken | undefined>;
  /** Replaces the saved token (atomically). */
  save(token: PersistedToken): Promise<void>;
}

/** Counters since creation and current values of one source: plain numbers. */
export interface TokenSourceStats {
  /** `get()` calls answered from memory without waiting. */
  hits: number;
  /** `get()` and `refresh(rejected)` calls that waited for a fetch (cold source, expired token, a 401). */
  waits: number;
  /** Fetches started, succeeded and failed (timeouts included). */
  fetches: number;
  fetchesOk: number;
  fetchesFailed: number;
  /** Background fetches: ahead of expiry, retries of a failed one, and `refresh()` without an argument. */
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
