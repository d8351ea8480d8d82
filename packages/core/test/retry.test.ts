import { describe, expect, it } from 'vitest';
import { createBackoff, sleep } from '../src/retry.js';

describe('createBackoff', () => {
  it('doubles from initialMs up to maxMs, and reset() starts over', () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 1_000, jitter: 0 });
    const delays = Array.from({ length: 6 }, () => backoff.next());
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(backoff.attempts).toBe(6);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(100);
  });

  it('takes up to `jitter` of each delay away at random, never adding to it', () => {
    const low = createBackoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 0.999999 });
    const high = createBackoff({ initialMs: 100, maxMs: 400, jitter: 0.5, random: () => 0 });
    expect(low.next()).toBeCloseTo(50, 3);
    expect(high.next()).toBe(100);
    // The cap applies before the jitter: a capped delay still varies.
    const capped = createBackoff({ initialMs: 400, maxMs: 400, jitter: 0.25, random: () => 0.5 });
    expect(capped.next()).toBe(350);
    expect(capped.next()).toBe(350);
  });

  it('with the default random, delays stay within [d × (1 − jitter), d]', () => {
    const backoff = createBackoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.2 });
    for (let i = 0; i < 1_000; i++) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(800);
      expect(delay).toBeLessThanOrEqual(1_000);
    }
  });

  it('refuses options that make no sense', () => {
    expect(() => createBackoff({ initialMs: 0 })).toThrow(/initialMs/);
    expect(() => createBackoff({ initialMs: 100, maxMs: 50 })).toThrow(/maxMs/);
    expect(() => createBackoff({ factor: 0.5 })).toThrow(/factor/);
    expect(() => createBackoff({ jitter: 2 })).toThrow(/jitter/);
    expect(() => createBackoff({ initialMs: Number.NaN })).toThrow(/initialMs/);
  });
});

describe('sleep', () => {
  it('waits about the time asked', async () => {
    const started = performance.now();
    await sleep(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('ends early, without rejecting, when its signal aborts', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const slept = sleep(10_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    await expect(slept).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(5_000);
    // Already aborted: returns at once.
    await expect(sleep(10_000, controller.signal)).resolves.toBeUndefined();
  });
});
