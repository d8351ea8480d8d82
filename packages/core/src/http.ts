/**
 * Framework-free HTTP side of authcache: Bearer credential extraction (RFC 6750 §2.1), the
 * result → status/`WWW-Authenticate` mapping (RFC 6750 §3) and the `authenticate` pipeline that
 * every adapter (express, koa, hono, ws) runs. Adapters only move values in and out of their
 * framework; no token or cache logic lives in them.
 */
import type { AuthCache } from './auth-cache.js';
import { createJwtVerifier, type JwtOptions } from './http-jwt.js';
import { defaultTokenKinds, type TokenKinds } from './tokens.js';
import type { FailureReason, Identity } from './types.js';

/**
 * Longest bearer token accepted, in characters. Longer credentials are `malformed` (400) before
 * anything is hashed, verified or looked up. 8 KiB leaves room for large JWTs.
 */
export const MAX_BEARER_TOKEN_LENGTH = 8192;

/** RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** `Bearer` (any case), then whitespace: spaces separate (RFC 6750: `"Bearer" 1*SP b64token`), a tab is malformed. */
const BEARER_SCHEME = /^bearer(?=\s|$)/i;

/** Outcome of credential extraction. `description` is safe to send to the client. */
export type CredentialResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed'; readonly description?: string };

const MISSING: CredentialResult = Object.freeze({ ok: false, reason: 'missing' });

function malformed(description: string): CredentialResult {
  return { ok: false, reason: 'malformed', description };
}

/**
 * Extracts a bearer token from an `Authorization` header value.
 *
 * - absent or empty → `missing`;
 * - another scheme (`Basic …`, `Token …`) → `missing`: RFC 6750 §3.1 says a request that used an
 *   unsupported method "lacks authentication information", so it gets a plain challenge;
 * - `Bearer` in any case, then one or more spaces (the RFC's `1*SP`), then one b64token → the
 *   token; anything else after `Bearer` (no token, a tab, two tokens, characters outside the
 *   b64token alphabet, non-ASCII, longer than {@link MAX_BEARER_TOKEN_LENGTH}) → `malformed`;
 * - several `Authorization` headers (an array, see {@link nodeAuthorization}) → `malformed`, and
 *   so is another scheme followed by `, Bearer …` (two headers as the Fetch API joins them).
 */
export function extractBearer(
  authorization: string | readonly string[] | null | undefined,
): CredentialResult {
  if (authorization === undefined || authorization === null) return MISSING;
  if (typeof authorization !== 'string') {
    if (authorization.length === 0) return MISSING;
    if (authorization.length > 1) return malformed('More than one Authorization header');
    return extractBearer(authorization[0]);
  }
  // HTTP parsers already strip the optional whitespace around a field value (SP and HTAB only,
  // RFC 9110 §5.6.3); do the same for direct callers, and nothing more.
  const value = authorization.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value === '') return MISSING;
  const scheme = BEARER_SCHEME.exec(value);
  if (!scheme) return otherScheme(value);
  let start = scheme[0].length;
  while (value.charCodeAt(start) === 32) start++;
  if (start === value.length) return malformed('Bearer scheme without a token');
  if (value.length - start > MAX_BEARER_TOKEN_LENGTH) return malformed('Bearer token too long');
  const token = value.slice(start);
  return B64TOKEN.test(token) ? { ok: true, token } : malformed('Malformed bearer token');
}

/** After a comma, OWS, then `Bearer` as a whole word: a second credential in the same value. */
const LATER_BEARER = /,[ \t]*bearer(?:[ \t]|$)/i;

/**
 * A value whose scheme is not `Bearer`: no bearer credential (`missing`), unless a `Bearer`
 * credential follows a comma. That is how the Fetch API's `Headers` (Hono, Bun, Deno, Workers)
 * hand over several `Authorization` headers, joined with ", "; `Authorization` is a singleton
 * field, not a list, so `Basic …, Bearer …` is two credentials, as on node.
 */
function otherScheme(value: string): CredentialResult {
  if (value.indexOf(',') === -1 || !LATER_BEARER.test(value)) return MISSING;
  return malformed('More than one credential in the Authorization header');
}

/** What {@link nodeAuthorization} reads of a node:http `IncomingMessage` (or http2 compat request). */
export interface NodeHeaderSource {
  readonly headers: { readonly authorization?: string | undefined };
  /** Header names and values as received, alternating. Absent on hand-made requests. */
  readonly rawHeaders?: readonly string[];
}

const AUTHORIZATION = 'authorization';

/** `name` equals `authorization` ignoring ASCII case, without allocating. */
function isAuthorizationName(name: string): boolean {
  if (name.length !== 13) return false;
  if (name === AUTHORIZATION || name === 'Authorization') return true;
  for (let i = 0; i < 13; i++) {
    // `| 0x20` folds A-Z onto a-z; only a letter of either case folds onto a letter.
    if ((name.charCodeAt(i) | 0x20) !== AUTHORIZATION.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The `Authorization` header(s) of a node:http request, for {@link extractBearer} or the
 * adapters' `authorization` source. node:http keeps only the first of several `Authorization`
 * headers in `req.headers`, so this counts them in `req.rawHeaders`: with one (or none) it
 * returns `req.headers.authorization` as is; with several it returns all their values, which
 * {@link extractBearer} rejects as `malformed` (400), even when they are equal. The scan compares
 * name lengths first and allocates nothing unless the header is repeated.
 */
export function nodeAuthorization(req: NodeHeaderSource): string | readonly string[] | undefined {
  const raw = req.rawHeaders;
  if (raw === undefined || !repeatsAuthorization(raw)) return req.headers.authorization;
  return authorizationValues(raw);
}

/** Whether `rawHeaders` hold more than one `Authorization` header. Allocates nothing. */
function repeatsAuthorization(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (!isAuthorizationName(raw[i]!)) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

function authorizationValues(raw: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (isAuthorizationName(raw[i]!)) values.push(raw[i + 1] ?? '');
  }
  return values;
}

/**
 * The `Authorization` value(s) on a Fetch-API runtime that runs on node:http (Hono on
 * `@hono/node-server`): `value` is what the request's `Headers` give; `incoming` is the node
 * request underneath, if any. `@hono/node-server` builds those `Headers` from `rawHeaders` for
 * plain requests (repeated headers joined by ", ") but from `req.headers` for upgrades (only the
 * first kept). When `value` is either form of several `Authorization` headers node received,
 * returns them separately, so the answer is the one node adapters give; otherwise `value`,
 * which stays the source of truth (a middleware may have rewritten the request). With a single
 * header the cost is one scan of the raw header names, without allocation.
 */
export function fetchAuthorization(
  value: string | null | undefined,
  incoming?: Pick<NodeHeaderSource, 'rawHeaders'>,
): string | readonly string[] | null | undefined {
  // Only rawHeaders are read: node builds `incoming.headers` lazily, on first access.
  const raw = incoming?.rawHeaders;
  if (value === undefined || value === null || raw === undefined) return value;
  if (!repeatsAuthorization(raw)) return value;
  const all = authorizationValues(raw);
  return value === all[0] || value === all.join(', ') ? all : value;
}

/**
 * Combines the `Authorization` header with a credential found elsewhere (a cookie, a query
 * parameter, a WebSocket subprotocol: whatever the adapter's `getToken` returns). A credential
 * in both places is `malformed` (RFC 6750 §2: "clients MUST NOT use more than one method"),
 * even when the two are equal. An empty string from `getToken` counts as absent.
 */
export function selectCredential(
  authorization: string | readonly string[] | null | undefined,
  otherToken?: string | null,
): CredentialResult {
  const fromHeader = extractBearer(authorization);
  if (otherToken === undefined || otherToken === null || otherToken === '') return fromHeader;
  const headerPresent = fromHeader.ok || fromHeader.reason === 'malformed';
  if (headerPresent) return malformed('Credentials sent more than one way');
  if (typeof otherToken !== 'string') return malformed('Malformed bearer token');
  if (otherToken.length > MAX_BEARER_TOKEN_LENGTH) return malformed('Bearer token too long');
  return B64TOKEN.test(otherToken)
    ? { ok: true, token: otherToken }
    : malformed('Malformed bearer token');
}

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

/**
 * How the request was authenticated: `daemon_token` (an `mdt_` token), `pat` (an `mul_` token),
 * `jwt`, or the name of another token kind.
 */
export type AuthPath = 'daemon_token' | 'pat' | 'jwt' | (string & {});

/**
 * What adapters hang on the request (`req.auth`, `ctx.state.auth`, `c.var.auth`): the cached
 * {@link Identity} plus how this request proved it. A fresh object per request; the cached
 * identity itself is deeply frozen (`scopes` and `attributes` included), so a handler cannot
 * change what later requests see: `req.auth.scopes.push(…)` throws a `TypeError`.
 */
export interface RequestAuth extends Identity {
  readonly path: AuthPath;
}

/** The `path` of a token kind: `daemon` → `daemon_token`, every other kind → its own name. */
export function authPathOf(kind: string): AuthPath {
  return kind === 'daemon' ? 'daemon_token' : kind;
}

/** Options of {@link createAuthenticator}, shared by every adapter. */
export interface AuthenticatorOptions {
  /** The auth cache that resolves prefixed tokens. Required. */
  auth: AuthCache;
  /** Token kinds accepted here, e.g. `['pat']`. Required (may be empty when only `jwt` is used). */
  kinds: readonly string[];
  /**
   * Also accept JWTs: any bearer token without a known prefix (see `tokenKinds`) is verified
   * with jose, never cached. Default: none (such tokens are rejected as invalid).
   */
  jwt?: JwtOptions;
  /**
   * Scopes the identity must all hold (`identity.scopes` must include each one), else 403
   * `insufficient_scope`. An identity with no recorded scopes holds none. Default: `[]`.
   */
  scopes?: readonly string[];
  /**
   * `false` lets requests without any credential through with no identity. A credential that is
   * present but bad is still rejected, and a store outage is still 503. Default: `true`.
   */
  required?: boolean;
  /** The `realm` of `WWW-Authenticate` challenges. Default: `"api"`. */
  realm?: string;
  /** Seconds in `Retry-After` when the store is unavailable (503). Default: `5`. */
  retryAfter?: number;
  /**
   * Token kinds used only to tell prefixed tokens from JWTs. Default: the auth cache's own
   * (`auth.tokenKinds`), so custom prefixes need configuring once, on `createAuthCache`.
   */
  tokenKinds?: TokenKinds;
}

/** Where a request's credential may be. */
export interface CredentialSources {
  /** The `Authorization` header value(s), as the framework gives them. */
  authorization: string | readonly string[] | null | undefined;
  /** A credential from another place (the adapter's `getToken`). */
  token?: string | null;
}

/** Outcome of authenticating one request. `auth` is `undefined` only for optional auth. */
export type AuthOutcome =
  | { readonly ok: true; readonly auth: RequestAuth | undefined }
  | { readonly ok: false; readonly error: HttpAuthError };

/** Authenticates one request. Never throws for an auth outcome. */
export type Authenticator = (sources: CredentialSources) => Promise<AuthOutcome>;

/**
 * Builds the pipeline every adapter runs: extract the credential, resolve it (prefixed tokens
 * through `auth.resolve`, others through the JWT verifier when configured), check scopes, and map
 * any failure with {@link toHttpError}. Validates options once, at middleware creation.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  if (!options?.auth || typeof options.auth.resolve !== 'function') {
    throw new TypeError('authcache middleware: options.auth (an AuthCache) is required');
  }
  if (!Array.isArray(options.kinds))
    throw new TypeError('authcache middleware: kinds must be an array');
  const { auth } = options;
  const kinds = [...options.kinds];
  const required = options.required ?? true;
  const scopes = [...(options.scopes ?? [])];
  const prefixes = Object.values(options.tokenKinds ?? auth.tokenKinds ?? defaultTokenKinds).map(
    (spec) => spec.prefix,
  );
  const verifyJwt = options.jwt ? createJwtVerifier(options.jwt) : undefined;
  const errorOptions: HttpErrorOptions = {
    realm: options.realm,
    scopes,
    retryAfter: options.retryAfter ?? 5,
  };
  // Fail at startup, not on the first outage.
  toHttpError('unavailable', errorOptions);

  const fail = (reason: FailureReason, description?: string): AuthOutcome => ({
    ok: false,
    error: toHttpError(reason, description ? { ...errorOptions, description } : errorOptions),
  });

  return async ({ authorization, token: other }) => {
    const credential = selectCredential(authorization, other);
    if (!credential.ok) {
      if (credential.reason === 'missing' && !required) return { ok: true, auth: undefined };
      return fail(credential.reason, credential.description);
    }
    const { token } = credential;

    let identity: Identity;
    if (verifyJwt && !prefixes.some((prefix) => token.startsWith(prefix))) {
      const result = await verifyJwt(token);
      if (!result.ok) return fail(result.reason);
      identity = result.identity;
    } else {
      const result = await auth.resolve(kinds, token);
      if (!result.ok) {
        // A syntactically fine header whose token fails the offline format check is an invalid
        // token (401), not an invalid request (400): RFC 6750 §3.1 "invalid_token … malformed".
        return result.reason === 'malformed' ? fail('invalid') : fail(result.reason);
      }
      identity = result.identity;
    }
    for (const scope of scopes) {
      if (!identity.scopes.includes(scope)) return fail('insufficient_scope');
    }
    // Identities from the auth cache are deeply frozen (scopes, attributes), so this shallow
    // per-request object can't leak a change into the cache. `path` first: V8 clones a spread
    // at the start of a literal much faster than one followed by more properties.
    return { ok: true, auth: { path: authPathOf(identity.kind), ...identity } };
  };
}

/** A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`. Adapters let it through. */
export function isCorsPreflight(
  method: string | undefined,
  accessControlRequestMethod: unknown,
): boolean {
  return (
    method === 'OPTIONS' &&
    typeof accessControlRequestMethod === 'string' &&
    accessControlRequestMethod !== ''
  );
}

/** Options every adapter middleware takes; `Req` is the framework's request or context. */
export interface AuthMiddlewareOptions<Req> extends Omit<AuthenticatorOptions, 'kinds'> {
  /**
   * Reads a credential from somewhere other than the `Authorization` header (a cookie, a query
   * parameter). A credential there *and* in the header is rejected with 400. Return `undefined`,
   * `null` or `''` for "none". Default: only the `Authorization` header is read.
   */
  getToken?: (req: Req) => string | null | undefined;
  /** Requests for which it returns `true` pass without authentication. Default: none. */
  skip?: (req: Req) => boolean;
}

/** Options of `bearerAuth`: the generic middleware, with the accepted kinds spelled out. */
export interface BearerAuthOptions<Req> extends AuthMiddlewareOptions<Req> {
  /** Token kinds accepted, e.g. `['pat', 'daemon']`. Required; `[]` with `jwt` = JWT only. */
  kinds: readonly string[];
}

/** Kinds `patAuth` accepts: personal access tokens (`mul_`). */
export const PAT_KINDS: readonly string[] = Object.freeze(['pat']);
/**
 * Kinds `daemonAuth` accepts, in multica's DaemonAuth order: daemon tokens (`mdt_`), then
 * personal access tokens (`mul_`); JWTs too when `jwt` is configured.
 */
export const DAEMON_KINDS: readonly string[] = Object.freeze(['daemon', 'pat']);
