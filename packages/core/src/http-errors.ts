/**
 * How an auth failure is answered over HTTP (RFC 6750 §3): status, `WWW-Authenticate` or
 * `Retry-After`, and a fixed, token-free message.
 */
import type { FailureReason } from './types.js';

/** An auth failure as an HTTP answer. Contains no token and nothing secret. */
export interface HttpAuthError {
  /** 400 malformed request, 401 no/bad credentials, 403 missing scope, 503 store down. */
  readonly status: 400 | 401 | 403 | 503;
  /** `WWW-Authenticate` (400, 401, 403) or `Retry-After` (503). */
  readonly headers: Readonly<Record<string, string>>;
  /** A short plain-text message for the response body (equal to the error description). */
  readonly body: string;
  /** The failure that produced it. */
  readonly reason: FailureReason;
  /** The RFC 6750 error code, when the answer carries one. */
  readonly error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
}

/** Options of {@link toHttpError}. */
export interface HttpErrorOptions {
  /** The `realm` of the `WWW-Authenticate` challenge. `"` and `\` are removed. Default: `"api"`. */
  realm?: string;
  /** Scopes the resource requires, announced in the 403 challenge's `scope`. Default: none. */
  scopes?: readonly string[];
  /** Seconds in the 503's `Retry-After`. Must be a non-negative integer. Default: `5`. */
  retryAfter?: number;
  /** Overrides the default `error_description` (and body). `"`, `\` and controls are removed. */
  description?: string;
}

const DESCRIPTIONS: Record<FailureReason, string> = {
  missing: 'Authentication required',
  malformed: 'Malformed Authorization header',
  invalid: 'The access token is invalid',
  expired: 'The access token expired',
  revoked: 'The access token was revoked',
  insufficient_scope: 'The access token lacks a required scope',
  unavailable: 'Authentication is temporarily unavailable',
};

/** Keeps a value safe inside an RFC 7235 quoted-string: printable ASCII without `"` and `\`. */
function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** Scope tokens per RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, joined by single spaces. */
function scopeList(scopes: readonly string[]): string {
  return scopes
    .map((scope) => scope.replace(/[^\x21\x23-\x5b\x5d-\x7e]/g, ''))
    .filter(Boolean)
    .join(' ');
}

/**
 * Maps a failure to its RFC 6750 answer:
 * - `missing` → 401, `WWW-Authenticate: Bearer realm="…"`, no error code;
 * - `malformed` → 400, `error="invalid_request"`;
 * - `invalid` / `expired` / `revoked` → 401, `error="invalid_token"`;
 * - `insufficient_scope` → 403, `error="insufficient_scope"`, `scope="…"`;
 * - `unavailable` → 503 with `Retry-After` and no challenge (never 401: the token may be fine).
 */
export function toHttpError(
  result: FailureReason | { readonly reason: FailureReason },
  options: HttpErrorOptions = {},
): HttpAuthError {
  const reason = typeof result === 'string' ? result : result.reason;
  const description = quotable(options.description ?? DESCRIPTIONS[reason] ?? DESCRIPTIONS.invalid);
  const realm = `Bearer realm="${quotable(options.realm ?? 'api')}"`;
  const challenge = (error: string, extra = '') =>
    `${realm}, error="${error}", error_description="${description}"${extra}`;
  switch (reason) {
    case 'missing':
      return { status: 401, headers: { 'WWW-Authenticate': realm }, body: description, reason };
    case 'malformed':
      return {
        status: 400,
        headers: { 'WWW-Authenticate': challenge('invalid_request') },
        body: description,
        reason,
        error: 'invalid_request',
      };
    case 'insufficient_scope': {
      const scope = scopeList(options.scopes ?? []);
      return {
        status: 403,
        headers: {
          'WWW-Authenticate': challenge('insufficient_scope', scope ? `, scope="${scope}"` : ''),
        },
        body: description,
        reason,
        error: 'insufficient_scope',
      };
    }
    case 'unavailable': {
      const retryAfter = options.retryAfter ?? 5;
      if (!Number.isInteger(retryAfter) || retryAfter < 0) {
        throw new TypeError('toHttpError: retryAfter must be a non-negative integer');
      }
      return {
        status: 503,
        headers: { 'Retry-After': String(retryAfter) },
        body: description,
        reason,
      };
    }
    default:
      return {
        status: 401,
        headers: { 'WWW-Authenticate': challenge('invalid_token') },
        body: description,
        reason,
        error: 'invalid_token',
      };
  }
}
