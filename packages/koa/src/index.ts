/**
 * Koa 3 middleware for authcache. Thin by design: credential extraction, resolution, scopes
 * and the RFC 6750 answers live in `@authcache/core`; this file only moves values in and out of
 * Koa.
 */
import {
  AuthError,
  type AuthMiddlewareOptions,
  AuthRejection,
  type BearerAuthOptions,
  createAuthenticator,
  DAEMON_KINDS,
  type HttpAuthError,
  isCorsPreflight,
  nodeAuthorization,
  PAT_KINDS,
  type RequestAuth,
  type RequestOutcome,
} from '@authcache/core';
import type { Context, Middleware, Next, ParameterizedContext } from 'koa';

export type {
  AuthErrorLike,
  AuthPath,
  HttpAuthError,
  JwtOptions,
  RequestAuth,
} from '@authcache/core';
/**
 * `AuthError` is what the middleware throws: Koa's default error handler answers with its
 * `status`, `headers` and message. In your own error middleware, recognise it with
 * `isAuthError(err)` (works across ESM and CommonJS copies).
 */
export { AuthError, isAuthError } from '@authcache/core';

/** What the middleware adds to `ctx.state`. */
export interface AuthState {
  /** The identity and how it was proven; `undefined` for optional auth without a credential. */
  auth?: RequestAuth;
  /** With `passthrough`, why authentication failed (status, headers, message). */
  authError?: HttpAuthError;
}

/** Koa-specific options. */
export interface KoaOnlyOptions {
  /**
   * `true` never throws: on failure `ctx.state.auth` stays unset, `ctx.state.authError` says why,
   * and the next middleware runs (it decides; nothing is bypassed). Default: `false`.
   */
  passthrough?: boolean;
}

/** Options of `patAuth` and `daemonAuth`. See `AuthMiddlewareOptions` for every default. */
export type KoaAuthOptions = AuthMiddlewareOptions<Context> & KoaOnlyOptions;
/** Options of `bearerAuth`: {@link KoaAuthOptions} plus the accepted `kinds`. */
export type KoaBearerAuthOptions = BearerAuthOptions<Context> & KoaOnlyOptions;

type AuthMiddleware = Middleware<AuthState>;

function middleware(options: KoaBearerAuthOptions): AuthMiddleware {
  const { request } = createAuthenticator(options);
  const { getToken, skip, passthrough = false } = options;
  const settle = (ctx: ParameterizedContext<AuthState>, next: Next, outcome: RequestOutcome) => {
    if (!(outcome instanceof AuthRejection)) {
      ctx.state.auth = outcome;
      return next();
    }
    if (passthrough) {
      ctx.state.authError = outcome.error;
      return next();
    }
    // Headers travel on the error (koa's error handler drops headers set before a throw), and
    // `expose` makes the safe message the body for 503 too (koa hides 5xx messages otherwise).
    throw new AuthError(outcome.error);
  };
  // Not `async`: a warm cache that answers synchronously costs no promise of this middleware's
  // own. koa-compose turns a synchronous throw into a rejection, as it did for the async form.
  return function authcache(ctx, next: Next) {
    const context = ctx as unknown as Context;
    if (
      ctx.method === 'OPTIONS' &&
      isCorsPreflight(ctx.method, ctx.get('Access-Control-Request-Method'))
    ) {
      return next();
    }
    if (skip?.(context)) return next();
    const outcome = request(nodeAuthorization(ctx.req), getToken?.(context));
    if (outcome instanceof Promise) return outcome.then((value) => settle(ctx, next, value));
    return settle(ctx, next, outcome);
  };
}

/**
 * Accepts personal access tokens (`mul_…`), and JWTs when `jwt` is set. Puts the identity on
 * `ctx.state.auth` (`path: 'pat'` or `'jwt'`).
 *
 * @example app.use(patAuth({ auth }));
 */
export function patAuth(options: KoaAuthOptions): AuthMiddleware {
  return middleware({ ...options, kinds: PAT_KINDS });
}

/**
 * Daemon auth (a guard for daemon routes such as the heartbeat, with a PAT fallback for a user's
 * own CLI): accepts daemon tokens (`mdt_…`, `path: 'daemon_token'`, with
 * `workspaceId` and `daemonId`), falls back to personal access tokens (`path: 'pat'`) and,
 * when `jwt` is set, JWTs (`path: 'jwt'`). On a warm cache it costs no store query.
 */
export function daemonAuth(options: KoaAuthOptions): AuthMiddleware {
  return middleware({ ...options, kinds: DAEMON_KINDS });
}

/** The general form: accepts the token `kinds` given (and JWTs when `jwt` is set). */
export function bearerAuth(options: KoaBearerAuthOptions): AuthMiddleware {
  return middleware(options);
}
export * from './admin.js';
