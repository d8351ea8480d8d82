/** Options of the circuit breaker that guards every Redis call of a tier. */
export interface BreakerOptions {
  /**
   * Consecutive failures (errors or timeouts) that open the circuit. While open, calls fail at
   * once without touching Redis. Must be a positive integer. Default: `5`.
   */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before one half-open probe is let through. A successful
   * probe closes the circuit; a failed one opens it for another cool-down. Default: `5_000`.
   */
  cooldownMs?: number;
}

/** `closed`: calls go to Redis. `open`: calls are skipped. `half-open`: one probe is in flight. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Thrown instead of calling Redis while the circuit is open. */
export class CircuitOpenError extends Error {
  constructor() {
    super('authcache: Redis circuit breaker is open');
    this.name = 'CircuitOpenError';
  }
}

/** Thrown when a Redis call does not answer within the tier's timeout. */
export class RedisTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`authcache: Redis did not answer within ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

export interface Breaker {
  /** Runs `call` unless the circuit is open; records its outcome. */
  run<T>(call: () => Promise<T>): Promise<T>;
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  /** How many times the circuit went from closed or half-open to open. */
  readonly opens: number;
  /** Calls refused because the circuit was open (or a probe was already in flight). */
  readonly shortCircuited: number;
}

export function createBreaker(
  options: BreakerOptions | false | undefined,
  now: () => number,
): Breaker {
  const enabled = options !== false;
  const settings: BreakerOptions = options || {};
  const failureThreshold = settings.failureThreshold ?? 5;
  const cooldownMs = settings.cooldownMs ?? 5_000;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
    throw new TypeError('createRedisTier: breaker.failureThreshold must be a positive integer');
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs < 0) {
    throw new TypeError('createRedisTier: breaker.cooldownMs must be a non-negative number');
  }
  let state: BreakerState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let opens = 0;
  let shortCircuited = 0;
  let probing = false;

  const open = () => {
    if (state !== 'open') opens++;
    state = 'open';
    openedAt = now();
  };

  return {
    async run<T>(call: () => Promise<T>): Promise<T> {
      if (!enabled) return call();
      let probe = false;
      if (state === 'open') {
        if (now() - openedAt < cooldownMs) {
          shortCircuited++;
          throw new CircuitOpenError();
        }
        state = 'half-open';
      }
      if (state === 'half-open') {
        // Exactly one caller probes Redis; the others keep skipping it until the probe answers.
        if (probing) {
          shortCircuited++;
          throw new CircuitOpenError();
        }
        probing = true;
        probe = true;
      }
      try {
        const result = await call();
        failures = 0;
        state = 'closed';
        return result;
      } catch (error) {
        failures++;
        if (probe || failures >= failureThreshold) open();
        throw error;
      } finally {
        if (probe) probing = false;
      }
    },
    get state() {
      return state;
    },
    get consecutiveFailures() {
      return failures;
    },
    get opens() {
      return opens;
    },
    get shortCircuited() {
      return shortCircuited;
    },
  };
}

/** Rejects with {@link RedisTimeoutError} when `promise` does not settle within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
