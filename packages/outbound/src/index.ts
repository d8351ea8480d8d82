export {
  InvalidTokenResultError,
  TokenFetchTimeoutError,
  TokenSourceClosedError,
  TokenSourceError,
  TokenUnavailableError,
} from './errors.js';
export type { FetchLike, FetchWithTokenOptions } from './fetch.js';
export { fetchWithToken } from './fetch.js';
export type { TokenSources, TokenSourcesOptions, TokenSourcesStats } from './registry.js';
export { createTokenSources } from './registry.js';
export type { FromCommandOptions, FromFileOptions, SidecarSourceOptions } from './sidecar.js';
export { fromCommand, fromFile, jwtExpiry } from './sidecar.js';
export type {
  Clock,
  PersistedToken,
  TokenPersistence,
  TokenResult,
  TokenSource,
  TokenSourceLogger,
  TokenSourceOptions,
  TokenSourceStats,
} from './source.js';
export { createTokenSource, defaultRefreshBefore, systemClock } from './source.js';
