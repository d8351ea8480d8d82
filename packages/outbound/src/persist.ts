/** `persist`: a token saved by one process, reused by the next while it is still valid. */
import type { Clock, TokenPersistence, TokenResult, TokenSourceLogger } from './types.js';

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Wraps `fetch`: its first call answers a saved token with more than `hardWindow` left (no
 * upstream call); every upstream result is saved before it is answered. Persistence failures are
 * logged (never with the token) and never fail a fetch.
 */
export function persistedFetch(
  fetch: (signal: AbortSignal) => Promise<TokenResult>,
  persist: TokenPersistence,
  context: { name: string; clock: Clock; hardWindow: number; logger?: TokenSourceLogger },
): (signal: AbortSignal) => Promise<TokenResult> {
  const { name, clock, hardWindow, logger } = context;
  let first = true;
  return async (signal) => {
    if (first) {
      first = false;
      try {
        const saved = await persist.load();
        if (saved && saved.expiresAt - clock.now() > hardWindow) {
          return { token: saved.token, expiresAt: saved.expiresAt };
        }
      } catch (error) {
        logger?.warn('saved token not used; fetching a new one', {
          source: name,
          error: messageOf(error),
        });
      }
    }
    const result = await fetch(signal);
    const expiresAt =
      result.expiresAt !== undefined
        ? Number(result.expiresAt)
        : clock.now() + (result.ttl ?? Number.NaN);
    if (typeof result.token === 'string' && Number.isFinite(expiresAt)) {
      await persist.save({ token: result.token, expiresAt }).catch((error: unknown) => {
        logger?.warn('token not saved', { source: name, error: messageOf(error) });
      });
    }
    return result;
  };
}
