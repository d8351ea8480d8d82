/**
 * Deep freezing of identities from a store or a tier, so that what `resolve()` hands out can't
 * be changed by one request for the next. Runs once per load, never per hit.
 */
import type { Identity } from '../types.js';

/**
 * A deeply frozen copy of a value: plain objects and arrays are copied and frozen
 * (`Object.fromEntries`, so a `__proto__` key stays an own property); other objects (dates,
 * class instances) are frozen in place.
 */
export function frozenCopy(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 32) throw new TypeError('authcache: identity nested too deeply');
  if (Array.isArray(value)) return Object.freeze(value.map((v) => frozenCopy(v, depth + 1)));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return Object.freeze(value);
  return Object.freeze(
    Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozenCopy(v, depth + 1)])),
  );
}

export function freezeIdentity(identity: Identity): Identity {
  return frozenCopy(identity) as Identity;
}
