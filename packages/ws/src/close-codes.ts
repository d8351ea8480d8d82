import type { FailureReason } from '@authcache/core';

/** WebSocket close code for "not authenticated (any more)": revoked, expired, bad or no token. */
export const CLOSE_UNAUTHORIZED = 4401;
/** WebSocket close code for "the token could not be checked now" (store down): Try Again Later. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** A close reason for a failed resolve: the reason code only, never the token. */
export function closeReason(reason: FailureReason): string {
  switch (reason) {
    case 'expired':
      return 'token_expired';
    case 'revoked':
      return 'token_revoked';
    case 'malformed':
      return 'invalid_request';
    case 'unavailable':
      return 'unavailable';
    case 'insufficient_scope':
      return 'insufficient_scope';
    default:
      return 'invalid_token';
  }
}

/** The close code for a failed resolve: 1013 when the store was unavailable, else 4401. */
export function closeCode(reason: FailureReason): number {
  return reason === 'unavailable' ? CLOSE_TRY_AGAIN_LATER : CLOSE_UNAUTHORIZED;
}
