import { describe, expect, it, vi } from 'vitest';
import { clampTtlToExpiry, createAuthCache, generateToken, type Logger } from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

const quiet: Logger = { warn: () => {} };

function setup(
  options: Parameters<typeof createAuthCache>[0] extends infer O ? Partial<O> : never = {},
) {
  const clock = fakeClock();
  const mem = createMemoryStore(clock);
  const auth = createAuthCache({ store: mem.store, clock, logger: quiet, ...options });
  return { clock, mem, auth };
}

describe('clampTtlToExpiry', () => {
  it('takes the smaller of ttl and the time left', () => {
    expect(clampTtlToExpiry(60_000, null, 0)).toBe(60_000);
    expect(clampTtlToExpiry(60_000, 10_000, 0)).toBe(10_000);
    expect(clampTtlToExpiry(60_000, 100_000, 0)).toBe(60_000);
    expect(clampTtlToExpiry(60_000, 0, 5)).toBeLessThanOrEqual(0);
  });
});

describe('createAuthCache', () => {
  it('validates its options', () => {
    const mem = createMemoryStore();
    expect(() => createAuthCache({} as never)).toThrow(/store is required/);
    expect(() => createAuthCache({ store: mem.store, maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => createAuthCache({ store: mem.store, ttl: Number.NaN })).toThrow(/ttl/);
  });

  it('serves a token without expiry from cache for ttl, then asks again', async () => {
    // The exact window: no jitter (jitter has its own test).
    const { clock, mem, auth } = setup({ ttl: 60_000, ttlJitter: 0 });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    const first = await auth.resolve('pat', token);
    expect(first).toEqual({ ok: true, identity, tokenHash: auth.hashToken(token) });
    for (let i = 0; i < 100; i++) expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(1);
    clock.advance(59_999);
    await auth.resolve('pat', token);
    expect(mem.calls.find).toBe(1);
    clock.advance(1);
    await auth.resolve('pat', token);
    expect(mem.calls.find).toBe(2);
    expect(auth.stats().hits).toBe(101);
  });

  it('clamps the entry to a token expiring before ttl and answers expired on the next hit', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000 });
    const token = generateToken('pat');
    mem.add('pat', token, { expiresAt: clock() + 10_000 });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(9_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(1);
    clock.advance(1);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'expired' });
    expect(mem.calls.find).toBe(1);
    // Afterwards the store (which filters expired rows) decides.
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('never caches an identity that is already expired by our clock', async () => {
    const clock = fakeClock();
    // A store whose own clock is behind ours still returns the row.
    const mem = createMemoryStore(() => clock() - 60_000);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet });
    const token = generateToken('pat');
    mem.add('pat', token, { expiresAt: clock() - 1 });
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'expired' });
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'expired' });
    expect(mem.calls.find).toBe(2);
    expect(auth.stats().size).toBe(0);
  });

  it('does not cache positives when ttl is 0 (lru-cache would read 0 as forever)', async () => {
    const { mem, auth } = setup({ ttl: 0 });
    const token = generateToken('pat');
    mem.add('pat', token);
    await auth.resolve('pat', token);
    await auth.resolve('pat', token);
    expect(mem.calls.find).toBe(2);
    expect(auth.stats().size).toBe(0);
  });

  it('rejects malformed input with zero lookups and well-formed tokens of other kinds as invalid', async () => {
    const { mem, auth } = setup();
    const good = generateToken('pat');
    const inputs = [
      '',
      'x'.repeat(10_240),
      `mul_${'é'.repeat(36)}`,
      `mul_${'\u0007'.repeat(36)}`,
      `abc_${good.slice(4)}`,
      good.slice(0, -1) + (good.endsWith('z') ? 'y' : 'z'),
    ];
    for (const token of inputs) {
      expect(await auth.resolve(['pat', 'daemon'], token)).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
    expect(await auth.resolve('daemon', good)).toEqual({ ok: false, reason: 'invalid' });
    expect(mem.calls.find).toBe(0);
    expect(auth.stats().malformed).toBe(inputs.length);
  });

  it('negative-caches unknown tokens for negativeTtl', async () => {
    const { clock, mem, auth } = setup({ negativeTtl: 5_000 });
    const unknown = generateToken('pat');
    expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    expect(mem.calls.find).toBe(1);
    clock.advance(5_000);
    await auth.resolve('pat', unknown);
    expect(mem.calls.find).toBe(2);
  });

  it('bounds negative entries so a spray cannot grow memory or evict live identities', async () => {
    const { mem, auth } = setup({ maxEntries: 100 });
    const token = generateToken('pat');
    mem.add('pat', token);
    await auth.resolve('pat', token);
    for (let i = 0; i < 5_000; i++) await auth.resolve('pat', generateToken('pat'));
    expect(auth.stats().negativeSize).toBe(100);
    expect(auth.stats().size).toBe(1);
    const before = mem.calls.find;
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(before);
  });

  it('single-flights concurrent misses: 1000 resolves, 1 store query', async () => {
    const { mem, auth } = setup();
    const token = generateToken('pat');
    mem.add('pat', token);
    const release = mem.hold();
    const pending = Array.from({ length: 1000 }, () => auth.resolve('pat', token));
    release();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(mem.calls.find).toBe(1);
  });

  it('never accepts a token after revoke() returned, even with a load in flight', async () => {
    const { mem, auth } = setup();
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    const release = mem.hold(); // the load reads "live" now and answers after the revoke
    const inFlight = auth.resolve('pat', token);
    await Promise.resolve();
    expect(await auth.revoke('pat', identity.tokenId)).toBe(true);
    release();
    expect(await inFlight).toEqual({ ok: false, reason: 'revoked' });
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(auth.stats().droppedFills).toBe(1);
    expect(await auth.revoke('pat', identity.tokenId)).toBe(false);
  });

  it('drops a cached entry on revoke and answers revoked without a query', async () => {
    const { mem, auth } = setup();
    const token = generateToken('pat');
    const identity = mem.add('pat', token, { subject: 'alice' });
    await auth.resolve('pat', token);
    expect(await auth.revoke('pat', identity.tokenId, { subject: 'bob' })).toBe(false);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(await auth.revoke('pat', identity.tokenId, { subject: 'alice' })).toBe(true);
    const queries = mem.calls.find;
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(mem.calls.find).toBe(queries);
  });

  it('invalidate() makes the next resolve ask the store and notifies listeners', async () => {
    const { mem, auth } = setup();
    const token = generateToken('daemon');
    mem.add('daemon', token);
    const events: unknown[] = [];
    const stop = auth.onInvalidate((e) => events.push(e));
    await auth.resolve('daemon', token);
    await auth.invalidate('daemon', auth.hashToken(token));
    await auth.resolve('daemon', token);
    expect(mem.calls.find).toBe(2);
    expect(events).toEqual([
      {
        type: 'invalidate',
        kind: 'daemon',
        tokenHash: auth.hashToken(token),
        reason: 'invalidated',
      },
    ]);
    stop();
    auth.clear();
    expect(events).toHaveLength(1);
  });

  it('answers unavailable on a store error and never caches it', async () => {
    const { mem, auth } = setup();
    const token = generateToken('pat');
    mem.add('pat', token);
    mem.fail(new Error('connection refused'));
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'unavailable' });
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'unavailable' });
    mem.fail(undefined);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(3);
    expect(auth.stats().storeErrors).toBe(2);
  });

  it('passes through to the store when disabled', async () => {
    const { mem, auth } = setup({ enabled: false });
    const token = generateToken('pat');
    mem.add('pat', token);
    for (let i = 0; i < 5; i++) expect((await auth.resolve('pat', token)).ok).toBe(true);
    const unknown = generateToken('pat');
    await auth.resolve('pat', unknown);
    await auth.resolve('pat', unknown);
    expect(mem.calls.find).toBe(7);
    expect(auth.stats()).toMatchObject({ size: 0, negativeSize: 0, hits: 0 });
  });

  it('pass-through still never accepts a token after revoke() returned', async () => {
    const { mem, auth } = setup({ enabled: false });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    const release = mem.hold();
    const inFlight = auth.resolve('pat', token);
    await Promise.resolve();
    await auth.revoke('pat', identity.tokenId);
    release();
    expect((await inFlight).ok).toBe(false);
  });

  it('validates refreshAhead', () => {
    const mem = createMemoryStore();
    for (const refreshAhead of [-0.1, 1, 2, Number.NaN]) {
      expect(() => createAuthCache({ store: mem.store, refreshAhead })).toThrow(/refreshAhead/);
    }
  });

  it('refresh-ahead: serves from cache and reloads in the background past the soft TTL', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000, refreshAhead: 0.5, ttlJitter: 0 });
    const token = generateToken('pat');
    mem.add('pat', token);
    await auth.resolve('pat', token);
    clock.advance(29_999);
    await auth.resolve('pat', token);
    expect(mem.calls.find).toBe(1);
    clock.advance(1);
    // Many hits past the soft TTL start exactly one background reload and all answer from cache.
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.resolve('pat', token)));
    expect(results.every((r) => r.ok)).toBe(true);
    await vi.waitFor(() => expect(mem.calls.find).toBe(2));
    expect(auth.stats()).toMatchObject({ refreshes: 1, hits: 51, misses: 1 });
    // The refreshed entry lives a full TTL from the refresh, past the original deadline.
    clock.advance(40_000);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(auth.stats().misses).toBe(1);
  });

  it('refresh-ahead: a refresh that finds the token gone stops serving it', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000, refreshAhead: 0.5 });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    await auth.resolve('pat', token);
    // Revoked in the store behind the cache's back (no bus, no auth.revoke()).
    await mem.store.revoke('pat', identity.tokenId);
    clock.advance(30_000);
    expect((await auth.resolve('pat', token)).ok).toBe(true); // still within its TTL: served
    await vi.waitFor(() => expect(mem.calls.find).toBe(2));
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('refresh-ahead: a store outage during a refresh keeps serving until the deadline, then 503', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000, refreshAhead: 0.5, ttlJitter: 0 });
    const token = generateToken('pat');
    mem.add('pat', token);
    await auth.resolve('pat', token);
    mem.fail(new Error('connection refused'));
    clock.advance(30_000);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    await vi.waitFor(() => expect(auth.stats().storeErrors).toBe(1));
    clock.advance(29_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(2);
    clock.advance(1);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('refresh-ahead: entries clamped to expiry are not refreshed, and a revoke still wins', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000, refreshAhead: 0.5 });
    const expiring = generateToken('pat');
    mem.add('pat', expiring, { expiresAt: clock() + 10_000 });
    await auth.resolve('pat', expiring);
    clock.advance(9_000);
    await auth.resolve('pat', expiring);
    expect(auth.stats().refreshes).toBe(0);

    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    await auth.resolve('pat', token);
    clock.advance(30_000);
    const release = mem.hold();
    expect((await auth.resolve('pat', token)).ok).toBe(true); // starts a held refresh
    await auth.revoke('pat', identity.tokenId);
    release();
    await vi.waitFor(() => expect(auth.stats().droppedFills).toBe(1));
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('writes last_used_at at most once per window, batched across tokens', async () => {
    const { clock, mem, auth } = setup({ ttl: 60_000 });
    const a = generateToken('pat');
    const b = generateToken('pat');
    const ia = mem.add('pat', a);
    const ib = mem.add('pat', b);
    for (let i = 0; i < 50; i++) {
      await auth.resolve('pat', a);
      await auth.resolve('pat', b);
    }
    await auth.flushTouches();
    expect(mem.calls.touch).toBe(1);
    expect(mem.calls.touchedIds.sort()).toEqual([ia.tokenId, ib.tokenId].sort());
    expect(mem.lastUsedAt(ia.tokenId)).toBe(clock());
    clock.advance(30_000);
    await auth.resolve('pat', a);
    await auth.flushTouches();
    expect(mem.calls.touch).toBe(1);
    clock.advance(30_001);
    await auth.resolve('pat', a);
    await auth.flushTouches();
    expect(mem.calls.touch).toBe(2);
    expect(mem.lastUsedAt(ia.tokenId)).toBe(clock());
    expect(auth.stats()).toMatchObject({ touchBatches: 2, touchedTokens: 3 });
  });

  it('flushes pending touches on close()', async () => {
    const { mem, auth } = setup({ touchFlushDelay: 60_000 });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    await auth.resolve('pat', token);
    expect(mem.calls.touch).toBe(0);
    await auth.close();
    expect(mem.calls.touch).toBe(1);
    expect(mem.lastUsedAt(identity.tokenId)).not.toBeNull();
  });

  it('flushes touches by itself after touchFlushDelay', async () => {
    const { mem, auth } = setup({ touchFlushDelay: 10 });
    const token = generateToken('pat');
    mem.add('pat', token);
    await auth.resolve('pat', token);
    await vi.waitFor(() => expect(mem.calls.touch).toBe(1));
  });

  it('logs a failing touch without failing auth or leaking the token', async () => {
    const warn = vi.fn();
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: { warn } });
    const token = generateToken('pat');
    mem.add('pat', token);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    const original = mem.store.touch;
    mem.store.touch = async () => {
      throw new Error('deadlock detected');
    };
    await auth.flushTouches();
    mem.store.touch = original;
    expect(warn).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(token);
    expect(auth.stats().touchErrors).toBe(1);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
  });
});
