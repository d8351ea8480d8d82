export type {
  AdminAuditEntry,
  AdminAuthorizeRequest,
  AdminHandler,
  AdminOptions,
  AdminRequest,
  AdminResponse,
  PrometheusSource,
} from './admin/handler.js';
export { ADMIN_CSP, createAdminHandler } from './admin/handler.js';
export type { AuthCache, AuthCacheOptions, ScopeInvalidationResult } from './auth-cache.js';
export { clampTtlToExpiry, createAuthCache } from './auth-cache.js';
export type {
  Authenticator,
  AuthenticatorOptions,
  AuthMiddlewareOptions,
  AuthOutcome,
  AuthPath,
  BearerAuthOptions,
  CredentialSources,
  RequestAuth,
  RequestOutcome,
} from './http.js';
export {
  AuthRejection,
  authPathOf,
  createAuthenticator,
  DAEMON_KINDS,
  isCorsPreflight,
  PAT_KINDS,
} from './http.js';
export type { CredentialFailure, CredentialResult, NodeHeaderSource } from './http-credentials.js';
export {
  extractBearer,
  fetchAuthorization,
  MAX_BEARER_TOKEN_LENGTH,
  nodeAuthorization,
  rawAuthorization,
  selectCredential,
} from './http-credentials.js';
export type { AuthErrorLike, HttpAuthError, HttpErrorOptions } from './http-errors.js';
export { AuthError, brandAuthError, isAuthError, toHttpError } from './http-errors.js';
export type {
  JwtClaimOptions,
  JwtJwksOptions,
  JwtOptions,
  JwtResult,
  JwtSecretOptions,
  JwtVerifier,
} from './http-jwt.js';
export { createJwtVerifier, jwtIdentity } from './http-jwt.js';
export type { MetricFamily, MetricSample } from './metrics.js';
export { metricFamilies } from './metrics.js';
export { toRequestAuth } from './request-auth.js';
export type { Backoff, BackoffOptions } from './retry.js';
export { createBackoff, sleep } from './retry.js';
export * from './scopes.js';
export type { SecretVerificationOptions } from './secrets/verified.js';
export type { Argon2Options, ScryptOptions, SecretVerifier } from './secrets/verifiers.js';
export {
  argon2Verifier,
  bcryptVerifier,
  createSecretVerifier,
  scryptVerifier,
  shaCryptVerifier,
} from './secrets/verifiers.js';
export type { AuthCacheStats, BusHealth, KindStats, TierHealth } from './stats.js';
export * from './tokens.js';
export type { TouchScheduler, TouchSchedulerOptions } from './touch.js';
export { createTouchScheduler } from './touch.js';
export * from './types.js';
