/**
 * Bounds on slow secret verifications: a global limit (a flood of guesses must not pin every
 * core, nor fill the libuv threadpool that `crypto.scrypt` runs on) and a per-id limit (one
 * sprayed id cannot take every global slot). Waiters queue FIFO up to a bound; past it the caller
 * is told at once (it answers `unavailable`, 503 + `Retry-After`, never a pass and never 401).
 */

interface Gate {
  running: number;
  readonly waiting: (() => void)[];
}

export interface VerificationLimiter {
  /**
   * Waits for a slot for `key` and runs `work` in it. `undefined` (without running `work`) when
   * the queue for `key`, or the global one, is full.
   */
  run<T>(key: string, work: () => Promise<T>): Promise<T | undefined>;
  /** Verifications running now, and waiting (all ids). */
  readonly running: number;
  readonly waiting: number;
}

export interface VerificationLimiterOptions {
  /** Slow verifications running at once in this process. */
  maxConcurrent: number;
  /** Slow verifications of one id running at once. */
  maxConcurrentPerId: number;
  /** Verifications allowed to wait, in all (global) and per id. */
  maxWaiting: number;
  maxWaitingPerId: number;
}

export function createVerificationLimiter(
  options: VerificationLimiterOptions,
): VerificationLimiter {
  const { maxConcurrent, maxConcurrentPerId, maxWaiting, maxWaitingPerId } = options;
  const global: Gate = { running: 0, waiting: [] };
  const perId = new Map<string, Gate>();

  /** Resolves once `gate` has a free slot (taking it); `false` when its queue is full. */
  function enter(gate: Gate, limit: number, queueLimit: number): Promise<boolean> | boolean {
    if (gate.running < limit) {
      gate.running++;
      return true;
    }
    if (gate.waiting.length >= queueLimit) return false;
    // The slot is handed over by `leave`, so `running` is not incremented here.
    return new Promise((resolve) => gate.waiting.push(() => resolve(true)));
  }

  function leave(gate: Gate): void {
    const next = gate.waiting.shift();
    if (next) next();
    else gate.running--;
  }

  return {
    async run(key, work) {
      let gate = perId.get(key);
      if (!gate) {
        gate = { running: 0, waiting: [] };
        perId.set(key, gate);
      }
      const idGate = gate;
      const release = () => {
        leave(idGate);
        if (idGate.running === 0 && idGate.waiting.length === 0) perId.delete(key);
      };
      if (!(await enter(idGate, maxConcurrentPerId, maxWaitingPerId))) {
        if (idGate.running === 0 && idGate.waiting.length === 0) perId.delete(key);
        return undefined;
      }
      if (!(await enter(global, maxConcurrent, maxWaiting))) {
        release();
        return undefined;
      }
      try {
        return await work();
      } finally {
        leave(global);
        release();
      }
    },
    get running() {
      return global.running;
    },
    get waiting() {
      return global.waiting.length;
    },
  };
}
