import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCounters } from '../src/cache/counters.js';
import {
  createPendingInvalidations,
  PENDING_BACKOFF,
  type PendingOptions,
} from '../src/cache/pending.js';
import type { InvalidationBus, InvalidationMessage } from '../src/index.js';

const revoked: InvalidationMessage = { kind: 'pat', tokenHash: 'h', reason: 'revoked' };

function setup(overrides: Partial<PendingOptions> = {}) {
  const counters = createCounters();
  const warnings: string[] = [];
  const tierAnswers: boolean[] = [];
  const tierCalls: string[] = [];
  const pending = createPendingInvalidations({
    clock: Date.now,
    logger: { warn: (message) => warnings.push(message) },
    counters,
    lifetimeMs: 60_000,
    async clearTier(key) {
      tierCalls.push(key);
      return tierAnswers.shift() ?? true;
    },
    publish: async () => [],
    ...overrides,
  });
  return { counters, warnings, tierAnswers, tierCalls, pending };
}

describe('pending invalidations', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries a failed tier step with jittered doubling delays until it succeeds', async () => {
    // The shared backoff at 100 ms → 5 s; a random of 0.5 takes a quarter of each delay away.
    const { counters, tierAnswers, tierCalls, pending } = setup({
      backoff: { ...PENDING_BACKOFF, random: () => 0.5 },
    });
    tierAnswers.push(false, false, true);
    pending.add(revoked, { tier: true });
    expect(pending.counts()).toEqual({ tier: 1, publish: 0 });
    expect(pending.tierPending('pat:h')).toBe(true);
    expect(pending.isRevokePending('pat:h')).toBe(true);
    for (const [delay, calls] of [
      [75, 1],
      [150, 2],
      [300, 3],
    ] as const) {
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(tierCalls.length).toBe(calls - 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(tierCalls.length).toBe(calls);
    }
    expect(tierCalls).toEqual(['pat:h', 'pat:h', 'pat:h']);
    expect(counters.tierRetries).toBe(3);
    expect(pending.counts()).toEqual({ tier: 0, publish: 0 });
    expect(pending.tierPending('pat:h')).toBe(false);
    expect(pending.isRevokePending('pat:h')).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tierCalls.length).toBe(3);
  });

  it('caps the delay at 5 s and gives up once the stale state has expired', async () => {
    const { tierCalls, warnings, pending } = setup({
      lifetimeMs: 20_000,
      clearTier: async (key) => {
        tierCalls.push(key);
        return false;
      },
    });
    pending.add(revoked, { tier: true });
    await vi.advanceTimersByTimeAsync(19_000);
    const before = tierCalls.length;
    // 100+200+…+3 200 (6.3 s at most), then ≤ 5 s apart: at least 6 attempts in 19 s.
    expect(before).toBeGreaterThanOrEqual(6);
    expect(pending.counts().tier).toBe(1);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(pending.counts().tier).toBe(0);
    expect(pending.isRevokePending('pat:h')).toBe(false);
    expect(warnings).toEqual([
      'authcache: gave up retrying an invalidation; its stale state has expired',
    ]);
    const after = tierCalls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tierCalls.length).toBe(after);
  });

  it('re-publishes only on the buses that failed, saying whether the tier is clear yet', async () => {
    const a = { name: 'a' } as unknown as InvalidationBus;
    const b = { name: 'b' } as unknown as InvalidationBus;
    const sent: { bus: unknown; message: InvalidationMessage }[] = [];
    let failB = true;
    const { counters, tierAnswers, pending } = setup({
      async publish(buses, message) {
        const failed: InvalidationBus[] = [];
        for (const bus of buses) {
          sent.push({ bus, message });
          if (bus === b && failB) failed.push(bus);
        }
        failB = false;
        return failed;
      },
    });
    tierAnswers.push(false, true);
    pending.add(revoked, { tier: true, buses: [a, b] });
    expect(pending.counts()).toEqual({ tier: 1, publish: 1 });
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([
      { bus: a, message: { ...revoked, tierCleared: false } },
      { bus: b, message: { ...revoked, tierCleared: false } },
    ]);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent.slice(2)).toEqual([{ bus: b, message: revoked }]);
    expect(pending.counts()).toEqual({ tier: 0, publish: 0 });
    expect(counters.publishRetries).toBe(2);
  });

  it('close() stops every retry and ignores later failures', async () => {
    const { tierAnswers, tierCalls, pending } = setup();
    tierAnswers.push(false, false, false);
    pending.add(revoked, { tier: true });
    pending.close();
    pending.add({ ...revoked, tokenHash: 'other' }, { tier: true });
    expect(pending.counts()).toEqual({ tier: 0, publish: 0 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tierCalls).toEqual([]);
  });
});
