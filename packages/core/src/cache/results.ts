/**
 * The answers every part of the resolver shares: frozen failure results (one object each, so
 * a negative answer allocates nothing) and `attempt()`, which turns a tier, store or bus call
 * into a promise whatever it does (returns a value, rejects, or throws synchronously).
 */
import type { FailureReason, ResolveResult } from '../types.js';

function fail(reason: FailureReason): ResolveResult {
  return Object.freeze({ ok: false, reason });
}

export const INVALID = fail('invalid');
export const MALFORMED = fail('malformed');
export const EXPIRED = fail('expired');
export const REVOKED = fail('revoked');
export const UNAVAILABLE = fail('unavailable');

/** Calls a tier, store or bus method: a synchronous throw or a non-promise becomes a promise. */
export function attempt<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
