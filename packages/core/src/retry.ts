/**
 * Retry timing shared by everything that reconnects or re-sends in the background (the Redis
 * and Postgres buses, the auth cache's pending tier invalidations): capped exponential backoff
 * with jitter, so that N instances that lost the same server do not retry in lockstep.
 */

/** Options of {@link createBackoff}. Every time is in milliseconds. */
export interface BackoffOptions {
  /** The first delay. Must be > 0. Default: `100`. */
  initialMs?: number;
  /** No delay is longer than this. Must be ≥ `initialMs`. Default: `2_000`. */
  maxMs?: number;
  /** Each failure multiplies the delay by this. Must be ≥ 1. Default: `2`. */
  factor?: number;
  /**
   * Fraction of each delay that is random: a delay `d` becomes a uniform pick in
   * `[d × (1 − jitter), d]`. Must be in `[0, 1]`. Default: `0.2`.
   */
  jitter?: number;
  /** Source of randomness in `[0, 1)`; inject one for tests. Default: `Math.random`. */
  random?: () => number;
}

/** The delays of one retry loop. Call `reset()` after a success. */
export interface Backoff {
  /** The delay before the next attempt; each call grows the following one up to `maxMs`. */
  next(): number;
  /** Back to `initialMs` (after a success). */
  reset(): void;
  /** Failures since the last reset. */
  readonly attempts: number;
}

/** Capped exponential backoff with jitter. See {@link BackoffOptions} for the defaults. */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 2_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0 && Number.isFinite(initialMs))) {
    throw new TypeError('createBackoff: initialMs must be a positive number');
  }
  if (!(maxMs >= initialMs && Number.isFinite(maxMs))) {
    throw new TypeError('createBackoff: maxMs must be a number ≥ initialMs');
  }
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new TypeError('createBackoff: factor must be a number ≥ 1');
  }
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError('createBackoff: jitter must be in [0, 1]');
  let base = initialMs;
  let attempts = 0;
  return {
    next() {
      const delay = base * (1 - jitter * random());
      base = Math.min(base * factor, maxMs);
      attempts++;
      return delay;
    },
    reset() {
      base = initialMs;
      attempts = 0;
    },
    get attempts() {
      return attempts;
    },
  };
}

/**
 * Resolves after `ms`. With a `signal`, resolves early (never rejects) once it aborts, so a
 * loop can check its own "closed" flag right after.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
