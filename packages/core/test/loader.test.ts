import { describe, expect, it } from 'vitest';
import { createCounters } from '../src/cache/counters.js';
import { createEntries } from '../src/cache/entries.js';
import { createLoader, type LoaderOptions } from '../src/cache/loader.js';
import type { Identity, SharedTier, SharedValue, TokenStore } from '../src/index.js';
import { fakeClock } from './support/memory-store.js';

const identity: Identity = { kind: 'pat', tokenId: '1', subject: 'u', scopes: [], expiresAt: null };

function setup(overrides: Partial<LoaderOptions> = {}) {
  const clock = fakeClock();
  const counters = createCounters();
  const touches = { record: () => {} };
  const store = {
    finds: 0,
    answer: identity as Identity | null,
    gate: undefined as Promise<void> | undefined,
    findByHash: async () => {
      store.finds++;
      const answer = store.answer;
      if (store.gate) await store.gate;
      return answer;
    },
    touch: async () => {},
    revoke: async () => [],
  };
  const entries = createEntries({
    enabled: true,
    ttl: 60_000,
    negativeTtl: 5_000,
    tombstoneTtl: 60_000,
    maxEntries: 100,
    touchInterval: 60_000,
    refreshAhead: 0,
    staleIfError: 0,
    jitter: (lifetime) => lifetime,
    clock,
    counters,
    touches,
    isRevokePending: () => false,
    onRefreshDue: () => {},
  });
  const loader = createLoader({
    store: store as TokenStore,
    tier: undefined,
    enabled: true,
    tierTtl: 60_000,
    jitter: (lifetime) => lifetime,
    storeTimeoutMs: 1_000,
    tierSkewMs: 1_000,
    tierLifetime: 60_000,
    clock,
    counters,
    touches,
    entries,
    tierPending: () => false,
    ...overrides,
  });
  return { clock, counters, store, entries, loader };
}

function tierHolding(value: () => SharedValue | undefined): SharedTier {
  return {
    get: async () => ({ value: value(), generation: 0 }),
    fill: async () => {},
    invalidate: async () => {},
  };
}

describe('loader', () => {
  it('a fresh instance trusts only tier identities filled after its start + skew, until ttl + skew', async () => {
    const start = fakeClock()();
    let filledAt = start - 1;
    const { clock, counters, store, entries, loader } = setup({
      tier: tierHolding(() => ({ type: 'identity', identity, filledAt })),
    });
    expect((await loader.load('pat', 'h', 'pat:h')).ok).toBe(true);
    expect(store.finds).toBe(1);
    expect(counters.tierUntrusted).toBe(1);
    entries.dropPositive('pat:h');
    filledAt = start + 1_000;
    expect((await loader.load('pat', 'h', 'pat:h')).ok).toBe(true);
    expect(store.finds).toBe(1);
    expect(counters.forKind('pat').l2Hits).toBe(1);
    entries.dropPositive('pat:h');
    filledAt = start - 1;
    clock.advance(61_000);
    expect((await loader.load('pat', 'h', 'pat:h')).ok).toBe(true);
    expect(store.finds).toBe(1);
    expect(counters.forKind('pat').l2Hits).toBe(2);
  });

  it('skips the tier entirely while its invalidation is pending', async () => {
    let reads = 0;
    const tier = tierHolding(() => {
      reads++;
      return { type: 'identity', identity, filledAt: Number.MAX_SAFE_INTEGER };
    });
    const { store, loader } = setup({ tier, tierPending: () => true });
    expect((await loader.load('pat', 'h', 'pat:h')).ok).toBe(true);
    expect(reads).toBe(0);
    expect(store.finds).toBe(1);
  });

  it('shares one load per key, and a load staled under it is retried, never cached stale', async () => {
    const { counters, store, entries, loader } = setup();
    let release!: () => void;
    store.gate = new Promise((r) => {
      release = r;
    });
    const a = loader.load('pat', 'h', 'pat:h');
    const b = loader.load('pat', 'h', 'pat:h');
    expect(b).toBe(a);
    // Read "live", then an invalidation lands before the answer: the read is thrown away.
    await Promise.resolve();
    loader.markStale('pat:h');
    store.answer = null;
    store.gate = undefined;
    release();
    expect(await a).toEqual({ ok: false, reason: 'invalid' });
    expect(store.finds).toBe(2);
    expect(counters.forKind('pat').droppedFills).toBe(1);
    expect(entries.size).toBe(0);
  });

  it('counts refresh-ahead outcomes: skipped, ok, failed, dropped', async () => {
    const { counters, store, loader } = setup();
    const stats = counters.forKind('pat');
    let release!: () => void;
    store.gate = new Promise((r) => {
      release = r;
    });
    const running = loader.load('pat', 'h', 'pat:h');
    // A load of the key is under way: the refresh would only duplicate it.
    loader.refresh('pat', 'h', 'pat:h');
    expect(stats).toMatchObject({ refreshes: 0, refreshSkipped: 1 });
    store.gate = undefined;
    release();
    await running;

    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    loader.refresh('pat', 'h', 'pat:h');
    await settle();
    expect(stats).toMatchObject({ refreshes: 1, refreshOk: 1 });

    const findByHash = store.findByHash;
    store.findByHash = async () => {
      throw new Error('down');
    };
    loader.refresh('pat', 'h', 'pat:h');
    await settle();
    expect(stats).toMatchObject({ refreshes: 2, refreshFailed: 1 });
    store.findByHash = findByHash;

    store.gate = new Promise((r) => {
      release = r;
    });
    loader.refresh('pat', 'h', 'pat:h');
    await Promise.resolve();
    loader.markStale('pat:h');
    store.gate = undefined;
    release();
    await settle();
    // Thrown away (and retried for anyone who joined), counted once as dropped, not as ok.
    expect(stats).toMatchObject({ refreshes: 3, refreshDropped: 1, refreshOk: 1, droppedFills: 1 });
  });
});
