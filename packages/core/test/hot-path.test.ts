import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createAuthCache,
  generateToken,
  type Logger,
  type SharedTier,
  type SharedValue,
} from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

const quiet: Logger = { warn: () => {} };

/** A shared tier in process memory that records the TTL of every fill (real Redis is tested in packages/redis). */
function memoryTier(clock: () => number) {
  const values = new Map<string, { value: SharedValue; until: number }>();
  const fills: number[] = [];
  const tier: SharedTier = {
    async get(key) {
      const held = values.get(key);
      if (!held || held.until <= clock()) return { value: undefined, generation: 0 };
      return { value: held.value, generation: 0, ttlMs: held.until - clock() };
    },
    async fill(key, value, ttlMs) {
      fills.push(ttlMs);
      values.set(key, { value, until: clock() + ttlMs });
    },
    async invalidate(key) {
      values.delete(key);
    },
  };
  return { tier, fills };
}

describe('no reload cliff at window boundaries (ttlJitter)', () => {
  it('spreads the deadlines of tokens loaded together over the last 5 % of the ttl, never past it', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet, ttl: 60_000 });
    const tokens = Array.from({ length: 500 }, () => generateToken('pat'));
    for (const token of tokens) mem.add('pat', token);
    await Promise.all(tokens.map((token) => auth.resolve('pat', token)));
    expect(mem.calls.find).toBe(500);

    // Nothing ends before 95 % of the ttl…
    clock.advance(57_000 - 1);
    await Promise.all(tokens.map((token) => auth.resolve('pat', token)));
    expect(mem.calls.find).toBe(500);
    // …the reloads spread over the last 3 s instead of landing in one instant…
    const reloadedAt: number[] = [];
    // 31 steps of 100 ms: up to and including the ttl itself.
    for (let step = 0; step < 31; step++) {
      clock.advance(100);
      const before = mem.calls.find;
      await Promise.all(tokens.map((token) => auth.resolve('pat', token)));
      reloadedAt.push(mem.calls.find - before);
    }
    expect(reloadedAt.reduce((a, b) => a + b, 0)).toBe(500);
    expect(Math.max(...reloadedAt)).toBeLessThan(100);
    expect(reloadedAt.filter((n) => n > 0).length).toBeGreaterThan(20);
  });

  it('validates ttlJitter and tierTtl', () => {
    const mem = createMemoryStore();
    expect(() => createAuthCache({ store: mem.store, ttlJitter: 0.6 })).toThrow(/ttlJitter/);
    expect(() => createAuthCache({ store: mem.store, ttlJitter: -0.1 })).toThrow(/ttlJitter/);
    expect(() => createAuthCache({ store: mem.store, ttl: 10_000, tierTtl: 5_000 })).toThrow(
      /tierTtl/,
    );
  });
});

describe('the shared tier outlives L1 (tierTtl)', () => {
  it('answers an L1 expiry from the tier, not the store, and clamps the tier copy to expiry', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const { tier, fills } = memoryTier(clock);
    const options = { store: mem.store, tier, clock, logger: quiet, ttl: 10_000, tierSkewMs: 0 };
    const auth = createAuthCache({ ...options, ttlJitter: 0 });
    const token = generateToken('pat');
    mem.add('pat', token);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(fills).toEqual([30_000]); // 3 × ttl by default
    // Past L1's 10 s, within the tier's 30 s: the tier answers.
    clock.advance(15_000);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(1);
    expect(auth.stats().l2Hits).toBe(1);

    // A token that expires in 12 s is held by the tier for 12 s, not 30.
    const short = generateToken('pat');
    mem.add('pat', short, { expiresAt: clock() + 12_000 });
    await auth.resolve('pat', short);
    expect(fills[1]).toBe(12_000);
  });
});

describe('peek: the answer without a promise when no I/O is needed', () => {
  it('answers a warm token synchronously, and nothing (with no side effect) for a cold one', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet });
    const token = generateToken('pat');
    mem.add('pat', token);
    expect(auth.peek('pat', token)).toBeUndefined();
    expect(auth.stats()).toMatchObject({ hits: 0, misses: 0 });
    expect(mem.calls.find).toBe(0);
    const resolved = await auth.resolve('pat', token);
    const peeked = auth.peek(['pat'], token);
    expect(peeked).toEqual(resolved);
    expect(auth.peek('pat', token)).toBe(peeked); // the entry's one prebuilt answer: no allocation
    expect(peeked?.ok && Object.isFrozen(peeked.identity)).toBe(true);
    expect(auth.stats()).toMatchObject({ hits: 2, misses: 1 }); // each peek that answers counts
    expect(auth.peek('pat', 'mul_garbage')).toEqual({ ok: false, reason: 'malformed' });
    expect(auth.peek('daemon', token)).toEqual({ ok: false, reason: 'invalid' });
    await auth.revoke('pat', (resolved.ok && resolved.identity.tokenId) || '');
    expect(auth.peek('pat', token)).toEqual({ ok: false, reason: 'revoked' });
  });
});

describe('the hit path checks the kind and hash first, the checksum on a miss', () => {
  it('answers a warm token without parsing it, and still rejects every malformed shape offline', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const hashed: string[] = [];
    const auth = createAuthCache({
      store: mem.store,
      clock,
      logger: quiet,
      hashToken: (token) => {
        hashed.push(token);
        return createHash('sha256').update(token).digest('hex');
      },
    });
    const token = generateToken('pat');
    mem.add('pat', token);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(auth.peek('pat', token)?.ok).toBe(true);

    // Right prefix and length, wrong checksum: one character of the body changed.
    const body = token.slice(4);
    const flipped = `mul_${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`;
    const before = mem.calls.find;
    for (const bad of [
      flipped,
      `${token}x`,
      token.slice(0, -1),
      'mul_',
      '',
      'xyz_'.padEnd(40, 'a'),
    ]) {
      expect(await auth.resolve('pat', bad)).toEqual({ ok: false, reason: 'malformed' });
      expect(auth.peek(['pat', 'daemon'], bad)).toEqual({ ok: false, reason: 'malformed' });
    }
    // Only shapes that claim a kind (prefix and length) get as far as the hash; none reach the store.
    expect(mem.calls.find).toBe(before);
    expect(hashed.filter((t) => t.length !== token.length)).toEqual([]);
    expect(auth.stats().malformed).toBe(12);
    // A malformed token is never remembered as unknown (no negative entry), so nothing is cached for it.
    expect(auth.stats().negativeSize).toBe(0);
  });

  it('a hasher that throws is unavailable for a well-formed token and malformed for garbage', async () => {
    const mem = createMemoryStore();
    const auth = createAuthCache({
      store: mem.store,
      logger: quiet,
      hashToken: () => {
        throw new Error('hasher down');
      },
    });
    const token = generateToken('pat');
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'unavailable' });
    const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    expect(await auth.resolve('pat', flipped)).toEqual({ ok: false, reason: 'malformed' });
  });
});
