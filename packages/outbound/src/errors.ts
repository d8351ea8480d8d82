/**
 * The errors a token source throws. None of them ever carries a token or a secret: messages
 * name the source and what failed, and the underlying error (if any) is the `cause`.
 */

/** Base class of every error thrown by `@authcache/outbound`. */
export class TokenSourceError extends Error {
  /** A stable machine-readable code. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * No valid token can be given: the fetch failed (or is still being retried) and the last good
 * token is past `expiresAt − hardWindow`. The fetch's error is the `cause`. Never thrown while an
 * older token is still usable: that one is served instead.
 */
export class TokenUnavailableError extends TokenSourceError {
  constructor(name: string, options?: { cause?: unknown }) {
    super('TOKEN_UNAVAILABLE', `token source ${name}: no valid token (fetch failed)`, options);
  }
}

/** `get()` on a source that was closed (or closed while the caller waited). */
export class TokenSourceClosedError extends TokenSourceError {
  constructor(name: string) {
    super('TOKEN_SOURCE_CLOSED', `token source ${name} is closed`);
  }
}

/** A `fetch` that did not answer within `fetchTimeout`: its signal was aborted. */
export class TokenFetchTimeoutError extends TokenSourceError {
  constructor(name: string, ms: number) {
    super('TOKEN_FETCH_TIMEOUT', `token source ${name}: fetch took longer than ${ms} ms`);
  }
}

/** A `fetch` answered something that is not a token (empty token, no usable expiry). */
export class InvalidTokenResultError extends TokenSourceError {
  constructor(name: string, why: string) {
    super('INVALID_TOKEN_RESULT', `token source ${name}: ${why}`);
  }
}
