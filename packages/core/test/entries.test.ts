import { describe, expect, it } from 'vitest';
import { createCounters } from '../src/cache/counters.js';
import { createEntries, type EntriesOptions } from '../src/cache/entries.js';
import type { Identity } from '../src/index.js';
import { fakeClock } from './support/memory-store.js';

function setup(overrides: Partial<EntriesOptions> = {}) {
  const clock = fakeClock();
  const touched: string[] = [];
  const refreshes: string[] = [];
  const counters = createCounters();
  const entries = createEntries({
    enabled: true,
    ttl: 60_000,
    negativeTtl: 5_000,
    tombstoneTtl: 60_000,
    maxEntries: 100,
    touchInterval: 10_000,
    refreshAhead: 0,
    staleIfError: 0,
    jitter: (lifetime) => lifetime,
    clock,
    counters,
    touches: { record: (key) => touched.push(key) },
    isRevokePending: () => false,
    onRefreshDue: (_kind, _hash, key) => refreshes.push(key),
    ...overrides,
  });
  return { clock, counters, entries, touched, refreshes };
}

const identity = (fields: Partial<Identity> = {}): Identity =>
  Object.freeze({
    kind: 'pat',
    tokenId: '1',
    subject: 'u',
    scopes: [],
    expiresAt: null,
    ...fields,
  });

describe('entries (L1)', () => {
  it('keeps a tombstone through a spray of unknown tokens and clear()', () => {
    const { entries } = setup();
    entries.rememberTombstone('pat:revoked');
    // Ten times the LRU bound of unknown tokens: they can evict only each other.
    for (let i = 0; i < 1_000; i++) entries.rememberNegative(`pat:unknown-${i}`);
    expect(entries.negativeSize).toBe(100);
    expect(entries.lookup('pat', 'revoked')).toEqual({
      ok: false,
      reason: 'revoked',
    });
    entries.clear();
    expect(entries.negativeSize).toBe(0);
    expect(entries.tombstones).toBe(1);
    expect(entries.lookup('pat', 'revoked')).toEqual({
      ok: false,
      reason: 'revoked',
    });
    expect(entries.lookup('pat', 'unknown-999')).toBeUndefined();
  });

  it('a hit answers the same frozen object, touches once per interval, asks for one refresh', () => {
    const { clock, counters, entries, touched, refreshes } = setup({ refreshAhead: 0.5 });
    const now = clock();
    entries.rememberPositive('pat:h', 'h', identity(), now, now);
    const first = entries.lookup('pat', 'h');
    expect(first).toEqual({ ok: true, identity: identity(), tokenHash: 'h' });
    expect(Object.isFrozen(first)).toBe(true);
    expect(entries.lookup('pat', 'h')).toBe(first);
    // The load already recorded the first use: no touch before the interval has passed.
    expect(touched).toEqual([]);
    clock.advance(10_000);
    entries.lookup('pat', 'h');
    entries.lookup('pat', 'h');
    expect(touched).toEqual(['pat:h']);
    expect(refreshes).toEqual([]);
    clock.advance(20_000);
    entries.lookup('pat', 'h');
    entries.lookup('pat', 'h');
    expect(refreshes).toEqual(['pat:h']);
    expect(counters.forKind('pat').hits).toBe(6);
    clock.advance(30_000);
    expect(entries.lookup('pat', 'h')).toBeUndefined();
    expect(entries.size).toBe(0);
  });

  it('clamps an entry to expiry and to what an L2 value has left, and never refreshes those', () => {
    const { clock, entries, refreshes } = setup({ refreshAhead: 0.1 });
    const now = clock();
    entries.rememberPositive('pat:e', 'e', identity({ expiresAt: now + 1_000 }), now, now);
    entries.rememberPositive('pat:l2', 'l2', identity(), now, now, 2_000);
    clock.advance(999);
    expect(entries.lookup('pat', 'e')?.ok).toBe(true);
    clock.advance(1);
    expect(entries.lookup('pat', 'e')).toEqual({ ok: false, reason: 'expired' });
    expect(entries.lookup('pat', 'l2')?.ok).toBe(true);
    clock.advance(1_000);
    expect(entries.lookup('pat', 'l2')).toBeUndefined();
    expect(refreshes).toEqual([]);
  });

  it('a pending revoke answers revoked without any tombstone; unknown tokens expire', () => {
    const pinned = new Set(['pat:p']);
    const { clock, entries, counters } = setup({ isRevokePending: (key) => pinned.has(key) });
    expect(entries.lookup('pat', 'p')).toEqual({ ok: false, reason: 'revoked' });
    expect(entries.tombstones).toBe(0);
    entries.rememberNegative('pat:u');
    expect(entries.lookup('pat', 'u')).toEqual({ ok: false, reason: 'invalid' });
    expect(counters.forKind('pat').negativeHits).toBe(2);
    clock.advance(5_000);
    expect(entries.lookup('pat', 'u')).toBeUndefined();
  });

  it('pass-through mode remembers nothing', () => {
    const { clock, entries } = setup({ enabled: false });
    entries.rememberPositive('pat:x', 'x', identity(), clock(), clock());
    entries.rememberNegative('pat:y');
    entries.rememberTombstone('pat:z');
    expect([entries.size, entries.negativeSize, entries.tombstones]).toEqual([0, 0, 0]);
    expect(entries.lookup('pat', 'x')).toBeUndefined();
  });
});

describe('entries keyed by hash', () => {
  it('a hash cached for one kind is a miss for another, and dropping one kind leaves the other', () => {
    const { clock, entries } = setup();
    const now = clock();
    entries.rememberPositive('pat:h', 'h', identity(), now, now);
    expect(entries.lookup('daemon', 'h')).toBeUndefined();
    // The other kind's miss neither evicts nor serves the pat entry.
    expect(entries.lookup('pat', 'h')).toMatchObject({ ok: true, tokenHash: 'h' });
    entries.dropPositive('daemon:h');
    expect(entries.lookup('pat', 'h')).toMatchObject({ ok: true });
    entries.dropPositive('pat:h');
    expect(entries.lookup('pat', 'h')).toBeUndefined();
    expect(entries.size).toBe(0);
  });
});
