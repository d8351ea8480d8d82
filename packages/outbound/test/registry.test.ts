import { createTokenSources, TokenSourceClosedError } from '@authcache/outbound';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2025, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createTokenSources', () => {
  it('100 racing first uses of one key make 1 source and 1 fetch', async () => {
    const factory = vi.fn((key: string) => ({
      fetch: vi.fn(async () => {
        fetches.push(key);
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { token: `token-for-${key}`, ttl: 900_000 };
      }),
    }));
    const fetches: string[] = [];
    const sources = createTokenSources(factory);
    const racing = Promise.all(
      Array.from({ length: 100 }, () => sources.get('db.internal:5432:app')),
    );
    await vi.advanceTimersByTimeAsync(50);
    expect(new Set(await racing)).toEqual(new Set(['token-for-db.internal:5432:app']));
    expect(factory).toHaveBeenCalledTimes(1);
    expect(fetches).toEqual(['db.internal:5432:app']);
    expect(sources.keys()).toEqual(['db.internal:5432:app']);
    expect(sources.stats()).toMatchObject({ sources: 1, created: 1, fetches: 1, waits: 100 });
    sources.close();
  });

  it('reconcile closes the sources of keys no longer configured, their timers and fetches', async () => {
    const signals = new Map<string, AbortSignal>();
    const sources = createTokenSources((key) => ({
      fetch: (signal) => {
        signals.set(key, signal);
        return key === 'slow'
          ? new Promise(() => {})
          : Promise.resolve({ token: `t-${key}`, ttl: 600_000 });
      },
    }));
    await sources.get('a');
    await sources.get('b');
    const slow = sources.get('slow');
    await vi.advanceTimersByTimeAsync(0);
    // a, b: a refresh timer each; slow: its fetch timeout.
    expect(vi.getTimerCount()).toBe(3);
    const a = sources.source('a');
    expect(sources.reconcile(['a', 'c'])).toEqual(['b', 'slow']);
    expect(sources.keys()).toEqual(['a']);
    expect(signals.get('slow')?.aborted).toBe(true);
    await expect(slow).rejects.toBeInstanceOf(TokenSourceClosedError);
    expect(vi.getTimerCount()).toBe(1); // a's refresh timer only
    expect(sources.source('a')).toBe(a);
    expect(sources.stats()).toMatchObject({ sources: 1, created: 3, closed: 2 });
    // A key configured again later gets a new source.
    await expect(sources.get('b')).resolves.toBe('t-b');
    sources.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(() => sources.source('a')).toThrow(/closed/);
  });

  it('idle sources (not read for 3 refresh cycles by default) stop refreshing', async () => {
    const fetch = vi.fn(async () => ({ token: 't', ttl: 60_000 }));
    const sources = createTokenSources(() => ({ fetch }));
    await sources.get('k');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(fetch).toHaveBeenCalledTimes(4); // the first, then 3 refreshes nobody read
    expect(sources.stats().idle).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    sources.close();
  });
});
