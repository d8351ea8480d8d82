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

/** Marks every authcache auth error, whichever build (ESM, CommonJS) or adapter made it. */
const AUTH_ERROR_BRAND: unique symbol = Symbol.for('authcache.AuthError') as never;

/**
 * What every adapter throws or passes on for a failed authentication, whatever its base class
 * (Hono's is an `HTTPException`). Recognise it with {@link isAuthError}, not `instanceof`: a
 * CommonJS and an ESM copy of the package are two classes, one brand.
 */
export interface AuthErrorLike extends Error {
  /** 400 malformed request, 401 no/bad credentials, 403 missing scope, 503 store down. */
  readonly status: HttpAuthError['status'];
  /** The same as `status`, for frameworks that read `statusCode`. */
  readonly statusCode: HttpAuthError['status'];
  /** Stable machine-readable code: why authentication failed. Never changes meaning. */
  readonly code: FailureReason;
  /** `WWW-Authenticate` (400, 401, 403) or `Retry-After` (503): send them with the answer. */
  readonly headers: Readonly<Record<string, string>>;
  /** Always `true`: the message is safe to show (it never contains the token). */
  readonly expose: true;
  /** The full answer: status, headers, body and the RFC 6750 `error` code. */
  readonly authError: HttpAuthError;
}

/** Gives `target` the fields and brand of an {@link AuthErrorLike}. For adapters' own classes. */
export function brandAuthError<T extends Error>(
  target: T,
  error: HttpAuthError,
): T & AuthErrorLike {
  // Plain writable properties: error handlers (koa's among them) assign `err.status` back.
  const fields = target as unknown as Record<string | symbol, unknown>;
  fields.status = error.status;
  fields.statusCode = error.status;
  fields.code = error.reason;
  fields.headers = error.headers;
  fields.expose = true;
  fields.authError = error;
  Object.defineProperty(target, AUTH_ERROR_BRAND, { value: true });
  return target as T & AuthErrorLike;
}

/** Whether `value` is an authcache auth error (from any adapter, ESM or CommonJS). */
export function isAuthError(value: unknown): value is AuthErrorLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [AUTH_ERROR_BRAND]?: unknown })[AUTH_ERROR_BRAND] === true
  );
}

/**
 * The error Express and Koa adapters raise for a failed authentication (Hono's is an
 * `HTTPException` with the same fields). Express 5's final handler and Koa's default error
 * handler both answer with its `status`, `headers` and message as they are.
 */
export class AuthError extends Error implements AuthErrorLike {
  declare readonly status: HttpAuthError['status'];
  declare readonly statusCode: HttpAuthError['status'];
  declare readonly code: FailureReason;
  declare readonly headers: Readonly<Record<string, string>>;
  declare readonly expose: true;
  declare readonly authError: HttpAuthError;

  constructor(error: HttpAuthError) {
    super(error.body);
    this.name = 'AuthError';
    brandAuthError(this, error);
  }
}
