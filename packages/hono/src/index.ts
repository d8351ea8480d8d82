/**
 * Hono middleware for authcache. Thin by design: credential extraction, resolution, scopes
 * and the RFC 6750 answers live in `@authcache/core`; this file only moves values in and out of
 * Hono.
 */
import {
  type AuthErrorLike,
  type AuthMiddlewareOptions,
  AuthRejection,
  type BearerAuthOptions,
  brandAuthError,
  createAuthenticator,
  DAEMON_KINDS,
  fetchAuthorization,
  type HttpAuthError,
  isCorsPreflight,
  type NodeHeaderSource,
  PAT_KINDS,
  type RequestAuth,
  type RequestOutcome,
  rawAuthorization,
} from '@authcache/core';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { createNodeRequestProbe } from './node-request.js';

export type {
  AuthErrorLike,
  AuthPath,
  HttpAuthError,
  JwtOptions,
  RequestAuth,
} from '@authcache/core';
/** Recognises an `AuthError` from any adapter, ESM or CommonJS. */
export { isAuthError } from '@authcache/core';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The identity set by `patAuth`, `daemonAuth` or `bearerAuth`. Optional here because an app
     * may read it on routes no auth middleware guards; the middleware's own type is exact.
     */
    auth?: RequestAuth;
  }
}

/** Env of a route behind required auth: `c.var.auth` is always set. */
export type AuthEnv = { Variables: { auth: RequestAuth } };
/** Env of a route behind `required: false`: `c.var.auth` is unset without a credential. */
export type OptionalAuthEnv = { Variables: { auth: RequestAuth | undefined } };

/** Options of `patAuth` and `daemonAuth`. See `AuthMiddlewareOptions` for every default. */
export type HonoAuthOptions = AuthMiddlewareOptions<Context>;
/** Options of `bearerAuth`: {@link HonoAuthOptions} plus the accepted `kinds`. */
export type HonoBearerAuthOptions = BearerAuthOptions<Context>;

type Optional = { required: false };
type Required = { required?: true };

/**
 * The exception thrown on failure: an `HTTPException` whose response carries the status,
 * `WWW-Authenticate` or `Retry-After`, and a plain-text message, so Hono's default error handler
 * returns it as is. It also has the fields every adapter's auth error has (`status`, `code`,
 * `headers`, `authError`); `isAuthError(err)` recognises it. In a custom `onError`, return
 * `err.getResponse()` to keep the headers.
 */
export class AuthError extends HTTPException implements AuthErrorLike {
  declare readonly status: HttpAuthError['status'];
  declare readonly statusCode: HttpAuthError['status'];
  declare readonly code: AuthErrorLike['code'];
  declare readonly headers: Readonly<Record<string, string>>;
  declare readonly expose: true;
  declare readonly authError: HttpAuthError;

  constructor(error: HttpAuthError) {
    const res = new Response(error.body, {
      status: error.status,
      headers: { ...error.headers, 'Content-Type': 'text/plain; charset=UTF-8' },
    });
    super(error.status, { res, message: error.body, cause: error });
    this.name = 'AuthError';
    brandAuthError(this, error);
  }
}

/** The {@link AuthError} for `error`, for code that runs core's authenticator itself. */
export function toHttpException(error: HttpAuthError): AuthError {
  return new AuthError(error);
}

function settle(c: Context<AuthEnv>, next: Next, outcome: RequestOutcome): Promise<void> {
  if (outcome instanceof AuthRejection) return Promise.reject(toHttpException(outcome.error));
  // Unset only under `required: false`, whose overload types the variable as optional.
  if (outcome) c.set('auth', outcome);
  return next();
}

/** Learns, once per process, how to tell an untouched node-server request (node-request.ts). */
const probe = createNodeRequestProbe();

/** The request's `Authorization` value(s), as `c.req.header()` would give them. */
function authorizationOf(c: Context): string | readonly string[] | null | undefined {
  const incoming = (c.env as { incoming?: NodeHeaderSource } | undefined)?.incoming;
  if (incoming === undefined) return c.req.header('authorization');
  const raw = c.req.raw;
  // On @hono/node-server, while no one has touched the request's headers: the node request's
  // own, without building them (≈ 1 µs a request).
  if (probe.untouched(raw, incoming)) return rawAuthorization(incoming.rawHeaders!);
  // Fetch `Headers` join repeated headers (or, on @hono/node-server upgrades, keep the
  // first); the node request underneath tells whether several were sent.
  const value = probe.learnFrom(raw, incoming, () => c.req.header('authorization'));
  return fetchAuthorization(value, incoming);
}

function middleware(options: HonoBearerAuthOptions): MiddlewareHandler<AuthEnv> {
  const { request } = createAuthenticator(options);
  const { getToken, skip } = options;
  // Not `async`: it returns `next()`'s own promise, so a request answered from a warm cache
  // costs no extra promise or microtask hop of this middleware's. Header names are lower-case
  // (what the node-server lookup wants), and the preflight header is read only for `OPTIONS`.
  return function authcache(c, next) {
    if (
      c.req.method === 'OPTIONS' &&
      isCorsPreflight('OPTIONS', c.req.header('access-control-request-method'))
    ) {
      return next();
    }
    if (skip?.(c)) return next();
    const outcome = request(authorizationOf(c), getToken?.(c));
    if (outcome instanceof Promise) return outcome.then((value) => settle(c, next, value));
    return settle(c, next, outcome);
  };
}

/**
 * Accepts personal access tokens (`mul_…`), and JWTs when `jwt` is set. Sets `c.var.auth`
 * (`path: 'pat'` or `'jwt'`).
 *
 * @example app.use('/api/*', patAuth({ auth }));
 */
export function patAuth(options: HonoAuthOptions & Optional): MiddlewareHandler<OptionalAuthEnv>;
export function patAuth(options: HonoAuthOptions & Required): MiddlewareHandler<AuthEnv>;
/** With `required` only known at run time, `c.var.auth` may be unset. */
export function patAuth(options: HonoAuthOptions): MiddlewareHandler<OptionalAuthEnv>;
export function patAuth(options: HonoAuthOptions): MiddlewareHandler {
  return middleware({ ...options, kinds: PAT_KINDS });
}

/**
 * Daemon auth (a guard for daemon routes such as the heartbeat, with a PAT fallback for a user's
 * own CLI): accepts daemon tokens (`mdt_…`, `path: 'daemon_token'`, with
 * `workspaceId` and `daemonId`), falls back to personal access tokens (`path: 'pat'`) and,
 * when `jwt` is set, JWTs (`path: 'jwt'`). On a warm cache it costs no store query.
 */
export function daemonAuth(options: HonoAuthOptions & Optional): MiddlewareHandler<OptionalAuthEnv>;
export function daemonAuth(options: HonoAuthOptions & Required): MiddlewareHandler<AuthEnv>;
/** With `required` only known at run time, `c.var.auth` may be unset. */
export function daemonAuth(options: HonoAuthOptions): MiddlewareHandler<OptionalAuthEnv>;
export function daemonAuth(options: HonoAuthOptions): MiddlewareHandler {
  return middleware({ ...options, kinds: DAEMON_KINDS });
}

/** The general form: accepts the token `kinds` given (and JWTs when `jwt` is set). */
export function bearerAuth(
  options: HonoBearerAuthOptions & Optional,
): MiddlewareHandler<OptionalAuthEnv>;
export function bearerAuth(options: HonoBearerAuthOptions & Required): MiddlewareHandler<AuthEnv>;
/** With `required` only known at run time, `c.var.auth` may be unset. */
export function bearerAuth(options: HonoBearerAuthOptions): MiddlewareHandler<OptionalAuthEnv>;
export function bearerAuth(options: HonoBearerAuthOptions): MiddlewareHandler {
  return middleware(options);
}
export * from './admin.js';
