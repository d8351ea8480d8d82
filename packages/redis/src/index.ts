export type { BreakerOptions, BreakerState } from './breaker.js';
export { CircuitOpenError, RedisTimeoutError } from './breaker.js';
export type { RedisBus, RedisBusOptions, RedisBusStats } from './bus.js';
export { compareStreamIds, redisBus } from './bus.js';
export type { RedisTier, RedisTierOptions, RedisTierStats } from './tier.js';
export { redisTier } from './tier.js';
