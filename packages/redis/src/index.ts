export type { BreakerOptions, BreakerState } from './breaker.js';
export { CircuitOpenError, RedisTimeoutError } from './breaker.js';
export type { RedisBus, RedisBusOptions, RedisBusStats } from './bus.js';
export { compareStreamIds, createRedisBus } from './bus.js';
export type { RedisTier, RedisTierOptions, RedisTierStats } from './tier.js';
export { createRedisTier, inspectTierValue } from './tier.js';
