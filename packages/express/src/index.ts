/**
 * Express 5 middleware for authcache. Thin by design: credential extraction, resolution, scopes
 * and the RFC 6750 answers live in `@authcache/core`; this file only moves values in and out of
 * Express.
 */
import {
  AuthError,
  type AuthMiddlewareOptions,
  AuthRejection,
  type BearerAuthOptions,
  createAuthenticator,
  DAEMON_KINDS,
  isCorsPreflight,
  nodeAuthorization,
  PAT_KINDS,
  type RequestAuth,
  type RequestOutcome,
} from '@authcache/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type {
  AuthErrorLike,
  AuthPath,
  HttpAuthError,
  JwtOptions,
  RequestAuth,
} from '@authcache/core';
/**
 * `AuthError` is what the middleware passes to `next(err)`: Express 5's final handler answers
 * with its `status` and sets every entry of `headers` (`WWW-Authenticate`, `Retry-After`). In
 * an error handler, recognise it with `isAuthError(err)` (works across ESM and CommonJS copies).
 */
export { AuthError, isAuthError } from '@authcache/core';

declare global {
  namespace Express {
    interface Request {
      /**
       * The authenticated identity and how it was proven, set by `patAuth`, `daemonAuth` or
       * `bearerAuth`. `undefined` when auth was optional and no credential was sent.
       */
      auth?: RequestAuth;
    }
  }
}

/** Options of `patAuth` and `daemonAuth`. See `AuthMiddlewareOptions` for every default. */
export type ExpressAuthOptions = AuthMiddlewareOptions<Request>;
/** Options of `bearerAuth`: {@link ExpressAuthOptions} plus the accepted `kinds`. */
export type ExpressBearerAuthOptions = BearerAuthOptions<Request>;

function settle(req: Request, next: NextFunction, outcome: RequestOutcome): void {
  if (outcome instanceof AuthRejection) {
    next(new AuthError(outcome.error));
    return;
  }
  req.auth = outcome;
  next();
}

function middleware(options: ExpressBearerAuthOptions): RequestHandler {
  const { request } = createAuthenticator(options);
  const { getToken, skip } = options;
  return function authcache(req: Request, _res: Response, next: NextFunction): void {
    if (
      (req.method === 'OPTIONS' &&
        isCorsPreflight(req.method, req.headers['access-control-request-method'])) ||
      skip?.(req)
    ) {
      next();
      return;
    }
    let token: string | null | undefined;
    try {
      token = getToken?.(req);
    } catch (error) {
      next(error);
      return;
    }
    const outcome = request(nodeAuthorization(req), token);
    // A warm cache that can answer synchronously settles the request in this same tick.
    if (outcome instanceof Promise) outcome.then((value) => settle(req, next, value), next);
    else settle(req, next, outcome);
  };
}

/**
 * Accepts personal access tokens (`mul_…`), and JWTs when `jwt` is set. Puts the identity on
 * `req.auth` (`path: 'pat'` or `'jwt'`).
 *
 * @example app.use('/api', patAuth({ auth }));
 */
export function patAuth(options: ExpressAuthOptions): RequestHandler {
  return middleware({ ...options, kinds: PAT_KINDS });
}

/**
 * Daemon auth (a guard for daemon routes such as the heartbeat, with a PAT fallback for a user's
 * own CLI): accepts daemon tokens (`mdt_…`, `path: 'daemon_token'`, with
 * `workspaceId` and `daemonId`), falls back to personal access tokens (`path: 'pat'`) and,
 * when `jwt` is set, JWTs (`path: 'jwt'`). On a warm cache it costs no store query.
 *
 * @example app.post('/api/daemon/heartbeat', daemonAuth({ auth }), heartbeat);
 */
export function daemonAuth(options: ExpressAuthOptions): RequestHandler {
  return middleware({ ...options, kinds: DAEMON_KINDS });
}

/**
 * The general form: accepts the token `kinds` given (and JWTs when `jwt` is set).
 *
 * @example app.use(bearerAuth({ auth, kinds: ['pat'], jwt: { jwksUrl } }));
 */
export function bearerAuth(options: ExpressBearerAuthOptions): RequestHandler {
  return middleware(options);
}
export * from './admin.js';
