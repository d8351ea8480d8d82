export type { AuthCache, AuthCacheOptions } from './auth-cache.js';
export { clampTtlToExpiry, createAuthCache } from './auth-cache.js';
export * from './tokens.js';
export type { TouchScheduler, TouchSchedulerOptions } from './touch.js';
export { createTouchScheduler } from './touch.js';
export * from './types.js';
