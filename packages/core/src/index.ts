export type { AuthCache, AuthCacheOptions } from './auth-cache.js';
export { clampTtlToExpiry, createAuthCache } from './auth-cache.js';
export type {
  Authenticator,
  AuthenticatorOptions,
  AuthMiddlewareOptions,
  AuthOutcome,
  AuthPath,
  BearerAuthOptions,
  CredentialResult,
  CredentialSources,
  HttpAuthError,
  HttpErrorOptions,
  NodeHeaderSource,
  RequestAuth,
} from './http.js';
export {
  authPathOf,
  createAuthenticator,
  DAEMON_KINDS,
  extractBearer,
  fetchAuthorization,
  isCorsPreflight,
  MAX_BEARER_TOKEN_LENGTH,
  nodeAuthorization,
  PAT_KINDS,
  selectCredential,
  toHttpError,
} from './http.js';
export type {
  JwtClaimOptions,
  JwtJwksOptions,
  JwtOptions,
  JwtResult,
  JwtSecretOptions,
  JwtVerifier,
} from './http-jwt.js';
export { createJwtVerifier, jwtIdentity } from './http-jwt.js';
export type { Backoff, BackoffOptions } from './retry.js';
export { createBackoff, sleep } from './retry.js';
export * from './tokens.js';
export type { TouchScheduler, TouchSchedulerOptions } from './touch.js';
export { createTouchScheduler } from './touch.js';
export * from './types.js';
