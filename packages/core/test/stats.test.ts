import { describe, expect, it } from 'vitest';
import {
  type AuthCacheOptions,
  type BusHealth,
  createAuthCache,
  generateToken,
  type InvalidationBus,
  type Logger,
  type SharedTier,
} from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

const quiet: Logger = { warn: () => {} };

function setup(options: Partial<AuthCacheOptions> = {}) {
  const clock = fakeClock();
  const mem = createMemoryStore(clock);
  const auth = createAuthCache({ store: mem.store, clock, logger: quiet, ...options });
  return { clock, mem, auth };
}

/** Every value of `stats()` is a finite number, `byKind` a record of them. */
function expectPlainNumbers(stats: object): void {
  for (const [name, value] of Object.entries(stats)) {
    if (name === 'byKind') {
      for (const kind of Object.values(value as object)) expectPlainNumbers(kind);
    } else if (name === 'invalidationsByScope') {
      expectPlainNumbers(value as object);
    } else expect(Number.isFinite(value), name).toBe(true);
  }
}

describe('auth.stats()', () => {
  it('starts at zero with every configured kind present, and reads plain numbers', () => {
    const { auth } = setup();
    const stats = auth.stats();
    expectPlainNumbers(stats);
    expect(Object.keys(stats.byKind).sort()).toEqual(['daemon', 'pat']);
    expect(stats).toMatchObject({
      hits: 0,
      passThrough: 0,
      l2BreakerState: -1,
      buses: 0,
      busesConnected: 0,
      busLagMs: -1,
      invalidationsByScope: { token: 0, subject: 0, kind: 0, access_key: 0, all: 0 },
    });
  });

  it('counts per kind, and the top level is the sum', async () => {
    const { mem, auth } = setup();
    const pat = generateToken('pat');
    const daemon = generateToken('daemon');
    mem.add('pat', pat);
    mem.add('daemon', daemon);
    for (let i = 0; i < 3; i++) await auth.resolve('pat', pat);
    await auth.resolve('daemon', daemon);
    await auth.resolve('pat', generateToken('pat')); // unknown
    await auth.resolve('pat', generateToken('pat').slice(0, -1)); // malformed
    expect(auth.peek('daemon', daemon)?.ok).toBe(true);
    const { byKind, ...totals } = auth.stats();
    expect(byKind.pat).toMatchObject({ hits: 2, misses: 2, storeQueries: 2 });
    expect(byKind.daemon).toMatchObject({ hits: 1, misses: 1, storeQueries: 1 });
    expect(totals).toMatchObject({ hits: 3, misses: 3, storeQueries: 3, malformed: 1 });
    await auth.resolve('pat', pat);
    expect(auth.stats().byKind.pat?.hits).toBe(3);
  });

  it('counts evictions of each LRU, and the entries they hold', async () => {
    const { mem, auth } = setup({ maxEntries: 2 });
    const tokens = [generateToken('pat'), generateToken('pat'), generateToken('pat')];
    for (const token of tokens) mem.add('pat', token);
    for (const token of tokens) await auth.resolve('pat', token);
    for (let i = 0; i < 3; i++) await auth.resolve('pat', generateToken('pat'));
    expect(auth.stats()).toMatchObject({
      evictions: 1,
      negativeEvictions: 1,
      size: 2,
      negativeSize: 2,
    });
    expect(auth.stats().byKind.pat?.evictions).toBe(1);
  });

  it('counts touches queued and written', async () => {
    const { mem, auth } = setup();
    const token = generateToken('pat');
    mem.add('pat', token);
    for (let i = 0; i < 5; i++) await auth.resolve('pat', token);
    expect(auth.stats()).toMatchObject({ touchesQueued: 1, touchedTokens: 0 });
    await auth.flushTouches();
    expect(auth.stats()).toMatchObject({ touchesQueued: 1, touchedTokens: 1, touchBatches: 1 });
    await auth.close();
  });

  it('says pass-through when the cache is off', () => {
    expect(setup({ enabled: false }).auth.stats().passThrough).toBe(1);
  });

  it('reads the tier breaker and the buses health, and survives their stats() throwing', async () => {
    let state: 'closed' | 'open' | 'half-open' = 'half-open';
    const tier: SharedTier = {
      get: async () => ({ value: undefined, generation: 0 }),
      fill: async () => {},
      invalidate: async () => {},
      stats: () => ({ state }),
    };
    const bus = (health: () => BusHealth): InvalidationBus => ({
      publish: async () => {},
      start: async () => {},
      close: async () => {},
      stats: health,
    });
    const lastMessageAt = Date.now() - 1_500;
    const { auth } = setup({
      tier,
      bus: [
        bus(() => ({ connected: true, lastMessageAt, caughtUp: 2 })),
        bus(() => ({ connected: false, lastMessageAt: null, caughtUp: 3 })),
        bus(() => {
          throw new Error('broken stats');
        }),
      ],
    });
    const stats = auth.stats();
    expect(stats).toMatchObject({ l2BreakerState: 1, buses: 3, busesConnected: 1, busCatchUps: 5 });
    expect(stats.busLagMs).toBeGreaterThanOrEqual(1_500);
    expect(stats.busLagMs).toBeLessThan(60_000);
    state = 'open';
    expect(auth.stats().l2BreakerState).toBe(2);
    state = 'closed';
    expect(auth.stats().l2BreakerState).toBe(0);
    tier.stats = () => {
      throw new Error('broken');
    };
    expect(auth.stats().l2BreakerState).toBe(-1);
  });

  it('lumps kinds beyond 64 distinct names together, so resolveHash cannot grow it unbounded', async () => {
    const { auth } = setup();
    for (let i = 0; i < 100; i++) await auth.resolveHash(`k${i}`, 'h');
    const kinds = Object.keys(auth.stats().byKind);
    expect(kinds.length).toBe(65);
    expect(kinds).toContain('*');
    expect(auth.stats().misses).toBe(100);
  });
});
