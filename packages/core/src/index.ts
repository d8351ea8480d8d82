export * from './types.js';
export * from './tokens.js';
export { clampTtlToExpiry, createAuthCache } from './auth-cache.js';
export type { AuthCache, AuthCacheOptions } from './auth-cache.js';
export { createTouchScheduler } from './touch.js';
export type { TouchScheduler, TouchSchedulerOptions } from './touch.js';
