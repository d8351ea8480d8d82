import { describe, expect, it } from 'vitest';
import {
  type AuthCacheOptions,
  createAuthCache,
  generateToken,
  type InvalidationBus,
  type InvalidationHandlers,
  type Logger,
} from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

// Bounded stale-on-error: an ended L1 identity answers a store outage for at most
// `staleIfError`, and nothing else ever gets a stale answer. The clock is injected (no jitter,
// exact windows); the store fails on demand (`mem.fail`) or hangs (`mem.hold`).

const quiet: Logger = { warn: () => {} };
const DOWN = new Error('connect ECONNREFUSED');
const UNAVAILABLE = { ok: false, reason: 'unavailable' };

function setup(options: Partial<AuthCacheOptions> = {}) {
  const clock = fakeClock();
  const mem = createMemoryStore(clock);
  const auth = createAuthCache({
    store: mem.store,
    clock,
    logger: quiet,
    ttl: 60_000,
    ttlJitter: 0,
    staleIfError: 30_000,
    ...options,
  });
  const token = generateToken('pat');
  const identity = mem.add('pat', token);
  return { clock, mem, auth, token, identity };
}

describe('staleIfError', () => {
  it('validates the option and is off by default', async () => {
    const mem = createMemoryStore();
    expect(() => createAuthCache({ store: mem.store, staleIfError: -1 })).toThrow(/staleIfError/);
    expect(() => createAuthCache({ store: mem.store, staleIfError: Number.NaN })).toThrow(
      /staleIfError/,
    );
    const { clock, mem: off, auth, token } = setup({ staleIfError: undefined });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_001);
    off.fail(DOWN);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    expect(auth.stats().staleHits).toBe(0);
  });

  it('serves an ended identity while the store is down and within the bound; 503 past it', async () => {
    const { clock, mem, auth, token, identity } = setup();
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000); // the entry has just ended
    mem.fail(DOWN);
    const stale = await auth.resolve('pat', token);
    expect(stale).toEqual({ ok: true, identity, tokenHash: auth.hashToken(token) });
    clock.advance(29_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    // Every stale answer asked the store first (it is the fallback, not a cache).
    expect(mem.calls.find).toBe(3);
    expect(auth.stats()).toMatchObject({ staleHits: 2, storeErrors: 2, hits: 0 });
    expect(auth.stats().byKind.pat).toMatchObject({ staleHits: 2, storeErrors: 2 });
    // Exactly `staleIfError` after the entry ended: 503.
    clock.advance(1);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    expect(auth.stats().staleHits).toBe(2);
    // The store is back: a fresh load, a fresh window.
    mem.fail(undefined);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(auth.peek('pat', token)?.ok).toBe(true);
  });

  it('answers a hung store (storeTimeoutMs) the same way', async () => {
    const { clock, mem, auth, token } = setup({ storeTimeoutMs: 20 });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(61_000);
    const release = mem.hold();
    try {
      expect((await auth.resolve('pat', token)).ok).toBe(true);
      expect(auth.stats()).toMatchObject({ staleHits: 1, storeTimeouts: 1 });
    } finally {
      release();
    }
  });

  it('is never served past the token expires_at', async () => {
    const { clock, mem, auth } = setup();
    const token = generateToken('pat');
    // Lives 70 s: the entry ends at 60 s, the stale window would reach 90 s.
    mem.add('pat', token, { expiresAt: clock() + 70_000 });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000);
    mem.fail(DOWN);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(9_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(1);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'expired' });
    // And an entry clamped to its token's expiry has no stale window at all.
    const short = generateToken('pat');
    mem.fail(undefined);
    mem.add('pat', short, { expiresAt: clock() + 1_000 });
    expect((await auth.resolve('pat', short)).ok).toBe(true);
    mem.fail(DOWN);
    clock.advance(1_000);
    expect(await auth.resolve('pat', short)).toEqual({ ok: false, reason: 'expired' });
    expect(auth.stats().staleHits).toBe(2);
  });

  it('revoke and its tombstone beat stale', async () => {
    const { clock, mem, auth, token, identity } = setup();
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000);
    expect(await auth.revoke('pat', identity.tokenId)).toBe(true);
    mem.fail(DOWN);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    // Past the tombstone's life too: the ended entry went with the revoke.
    clock.advance(60_000);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    expect(auth.stats().staleHits).toBe(0);
  });

  it('invalidate() and a revoke from the bus beat stale', async () => {
    let handlers: InvalidationHandlers | undefined;
    const bus: InvalidationBus = {
      publish: async () => {},
      start: async (h) => {
        handlers = h;
      },
      close: async () => {},
    };
    const { clock, mem, auth, token } = setup({ bus });
    await auth.ready();
    const other = generateToken('pat');
    mem.add('pat', other);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect((await auth.resolve('pat', other)).ok).toBe(true);
    clock.advance(60_000);
    await auth.invalidate('pat', auth.hashToken(token));
    handlers?.onInvalidate({ kind: 'pat', tokenHash: auth.hashToken(other), reason: 'revoked' });
    mem.fail(DOWN);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    expect(await auth.resolve('pat', other)).toEqual({ ok: false, reason: 'revoked' });
    expect(auth.stats()).toMatchObject({
      staleHits: 0,
      invalidationsLocal: 1,
      invalidationsBus: 1,
      invalidations: 2,
    });
  });

  it('a bus flush (clear) drops every stale fallback', async () => {
    const { clock, mem, auth, token } = setup();
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000);
    auth.clear();
    mem.fail(DOWN);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
  });

  it('never serves a negative entry stale', async () => {
    const { clock, mem, auth } = setup({ negativeTtl: 5_000 });
    const unknown = generateToken('pat');
    expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    clock.advance(4_000);
    mem.fail(DOWN);
    // Still remembered: answered without the store.
    expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    clock.advance(1_000);
    expect(await auth.resolve('pat', unknown)).toEqual(UNAVAILABLE);
    expect(auth.stats()).toMatchObject({ staleHits: 0, negativeHits: 1 });
  });

  it('a token the store stopped returning is not served stale', async () => {
    const { clock, mem, auth, token, identity } = setup();
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000);
    // Revoked by SQL, no bus: the next load finds nothing and drops the entry.
    await mem.store.revoke('pat', identity.tokenId);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'invalid' });
    clock.advance(5_000);
    mem.fail(DOWN);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
  });

  it('with refreshAhead, a refresh failing during an outage extends nothing', async () => {
    const { clock, mem, auth, token } = setup({ refreshAhead: 0.5, staleIfError: 10_000 });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    mem.fail(DOWN);
    clock.advance(30_000); // due for refresh: the hit answers and starts one, which fails
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(auth.stats().byKind.pat).toMatchObject({ refreshes: 1, refreshFailed: 1 });
    // Served from L1 until its original deadline, not a moment longer …
    clock.advance(29_999);
    expect(auth.peek('pat', token)?.ok).toBe(true);
    clock.advance(1);
    expect(auth.peek('pat', token)).toBeUndefined();
    // … then stale for exactly `staleIfError`, counted as stale hits.
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(9_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(1);
    expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    expect(auth.stats()).toMatchObject({ staleHits: 2, refreshes: 1, refreshOk: 0 });
  });

  it('concurrent resolves during an outage each get the stale answer from one store call', async () => {
    const { clock, mem, auth, token } = setup();
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(60_000);
    mem.fail(DOWN);
    const finds = mem.calls.find;
    const answers = await Promise.all(Array.from({ length: 20 }, () => auth.resolve('pat', token)));
    expect(answers.every((answer) => answer.ok)).toBe(true);
    expect(mem.calls.find - finds).toBe(1);
    expect(auth.stats().staleHits).toBe(20);
  });

  it('does nothing without positive caching (ttl 0) or in pass-through mode', async () => {
    for (const options of [{ ttl: 0 }, { enabled: false }]) {
      const { clock, mem, auth, token } = setup(options);
      expect((await auth.resolve('pat', token)).ok).toBe(true);
      clock.advance(1_000);
      mem.fail(DOWN);
      expect(await auth.resolve('pat', token)).toEqual(UNAVAILABLE);
    }
  });
});
