/**
 * The `authenticate` pipeline every adapter (express, koa, hono, ws) runs: pick the credential
 * (http-credentials.ts), resolve it (prefixed tokens through the auth cache, others through the
 * JWT verifier), check scopes, and map failures (http-errors.ts). Adapters only move values in
 * and out of their framework; no token or cache logic lives in them.
 */
import type { AuthCache } from './auth-cache.js';
import { checkBearerToken, selectToken } from './http-credentials.js';
import { type HttpAuthError, type HttpErrorOptions, toHttpError } from './http-errors.js';
import { createJwtVerifier, type JwtOptions } from './http-jwt.js';
import { toRequestAuth } from './request-auth.js';
import { defaultTokenKinds, type TokenKinds } from './tokens.js';
import type { FailureReason, Identity, ResolveResult } from './types.js';

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
  /** How this request proved the identity. An identity's own `path` field never replaces it. */
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

/** A failed request, as {@link Authenticator.request} returns it. */
export class AuthRejection {
  constructor(readonly error: HttpAuthError) {}
}

/**
 * What {@link Authenticator.request} settles to: the request's identity (a fresh object), or
 * `undefined` for optional auth without a credential, or an {@link AuthRejection}.
 */
export type RequestOutcome = RequestAuth | undefined | AuthRejection;

/** Authenticates one request. Never throws for an auth outcome. */
export interface Authenticator {
  (sources: CredentialSources): Promise<AuthOutcome>;
  /**
   * The same pipeline, for adapters, without wrapper objects: the only allocation of a request
   * answered from the cache is the returned {@link RequestAuth}. Returns the outcome itself
   * when it is known without waiting (a missing or malformed credential, or an auth cache whose
   * optional `peek` answers from its in-process tier), else a native `Promise` of it. Never
   * throws: an unexpected error is a rejected promise.
   */
  readonly request: (
    authorization: CredentialSources['authorization'],
    token?: string | null,
  ) => RequestOutcome | Promise<RequestOutcome>;
}

/**
 * An auth cache that can answer without a promise. `peek(kinds, token)` returns what
 * `resolve(kinds, token)` would settle to when it can tell without I/O (an in-process hit, with
 * the same bookkeeping `resolve` does for it), else `undefined` and has no effect at all (the
 * authenticator then calls `resolve`). Optional: the authenticator feature-detects it.
 */
interface PeekingAuthCache {
  peek?(kinds: readonly string[], token: string): ResolveResult | undefined;
}

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
  const peeking = auth as AuthCache & PeekingAuthCache;
  const canPeek = typeof peeking.peek === 'function';
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

  const reject = (reason: FailureReason, description?: string): AuthRejection =>
    new AuthRejection(
      toHttpError(reason, description ? { ...errorOptions, description } : errorOptions),
    );

  const accept = (identity: Identity): RequestOutcome => {
    for (let i = 0; i < scopes.length; i++) {
      if (!identity.scopes.includes(scopes[i]!)) return reject('insufficient_scope');
    }
    // Identities from the auth cache are deeply frozen (scopes, attributes), so this shallow
    // per-request object can't leak a change into the cache.
    return toRequestAuth(identity, authPathOf(identity.kind));
  };

  // Created once: the asynchronous paths allocate no closure per request.
  const fromCache = (result: ResolveResult): RequestOutcome => {
    if (result.ok) return accept(result.identity);
    // A syntactically fine header whose token fails the offline format check is an invalid
    // token (401), not an invalid request (400): RFC 6750 §3.1 "invalid_token … malformed".
    return reject(result.reason === 'malformed' ? 'invalid' : result.reason);
  };
  const fromJwt = (
    result: { ok: true; identity: Identity } | { ok: false; reason: FailureReason },
  ): RequestOutcome => (result.ok ? accept(result.identity) : reject(result.reason));

  const request = (
    authorization: CredentialSources['authorization'],
    other?: string | null,
  ): RequestOutcome | Promise<RequestOutcome> => {
    try {
      // The b64token alphabet is checked only past an L1 miss: a hit means the token's SHA-256
      // is that of a token the store issued, which passed every format check when it was
      // loaded, so on the hot path the check would only repeat a ~50-character scan.
      const token = selectToken(authorization, other, false);
      if (typeof token !== 'string') {
        if (token.reason === 'missing' && !required) return undefined;
        return reject(token.reason, token.description);
      }
      if (verifyJwt && !isPrefixed(token)) {
        const checked = checkBearerToken(token);
        if (typeof checked !== 'string') return reject(checked.reason, checked.description);
        return Promise.resolve(verifyJwt(token)).then(fromJwt);
      }
      let known: ResolveResult | undefined;
      if (canPeek) {
        known = peeking.peek!(kinds, token);
        if (known?.ok) return accept(known.identity);
      }
      const checked = checkBearerToken(token);
      if (typeof checked !== 'string') return reject(checked.reason, checked.description);
      if (known !== undefined) return fromCache(known);
      const pending = auth.resolve(kinds, token);
      return (pending instanceof Promise ? pending : Promise.resolve(pending)).then(fromCache);
    } catch (error) {
      return Promise.reject(error);
    }
  };

  const isPrefixed = (token: string): boolean => {
    for (let i = 0; i < prefixes.length; i++) if (token.startsWith(prefixes[i]!)) return true;
    return false;
  };

  const toOutcome = (outcome: RequestOutcome): AuthOutcome =>
    outcome instanceof AuthRejection
      ? { ok: false, error: outcome.error }
      : { ok: true, auth: outcome };

  const authenticate = ({ authorization, token }: CredentialSources): Promise<AuthOutcome> => {
    const outcome = request(authorization, token);
    return outcome instanceof Promise
      ? outcome.then(toOutcome)
      : Promise.resolve(toOutcome(outcome));
  };
  return Object.assign(authenticate, { request });
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
 * Kinds `daemonAuth` accepts, in daemon-auth order (see docs/glossary.md): daemon tokens (`mdt_`), then
 * personal access tokens (`mul_`); JWTs too when `jwt` is configured.
 */
export const DAEMON_KINDS: readonly string[] = Object.freeze(['daemon', 'pat']);
