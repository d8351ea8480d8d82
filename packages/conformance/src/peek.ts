import type { AuthCache } from '@authcache/core';

/**
 * The auth cache as the adapters see it, counting their calls: a warm request must be answered
 * by the synchronous `peek`, and only a cold one may reach `resolve`.
 */
export function countingCalls(auth: AuthCache): {
  calls: { resolve: number; peek: number };
  auth: AuthCache;
} {
  const calls = { resolve: 0, peek: 0 };
  const counted: AuthCache = {
    ...auth,
    resolve(kinds, token) {
      calls.resolve++;
      return auth.resolve(kinds, token);
    },
    peek(kinds, token) {
      calls.peek++;
      return auth.peek(kinds, token);
    },
  };
  return { calls, auth: counted };
}
