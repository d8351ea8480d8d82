import {
  type Clock,
  createTokenSource,
  defaultRefreshBefore,
  systemClock,
  TokenFetchTimeoutError,
  TokenSourceClosedError,
  TokenUnavailableError,
} from '@authcache/outbound';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const T0 = Date.UTC(2025, 0, 1);

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A fetch whose calls are answered by the test, one deferred per call. */
function scriptedFetch() {
  const calls: {
    at: number;
    signal: AbortSignal;
    answer: ReturnType<typeof deferred<{ token: string; ttl: number }>>;
  }[] = [];
  const fetch = vi.fn((signal: AbortSignal) => {
    const answer = deferred<{ token: string; ttl: number }>();
    calls.push({ at: Date.now(), signal, answer });
    return answer.promise;
  });
  return { fetch, calls };
}

/** Lets pending promise callbacks run without moving the fake clock. */
const flush = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('refreshBefore default', () => {
  it('is max(10 % of the lifetime, 45 s), capped at half the lifetime', () => {
    expect(defaultRefreshBefore(15 * 60_000)).toBe(90_000);
    expect(defaultRefreshBefore(60 * 60_000)).toBe(360_000);
    expect(defaultRefreshBefore(5 * 60_000)).toBe(45_000);
    expect(defaultRefreshBefore(60_000)).toBe(30_000);
    expect(defaultRefreshBefore(5_000)).toBe(2_500);
  });
});

describe('createTokenSource', () => {
  it('1 000 concurrent get() on a cold source share one fetch', async () => {
    const { fetch, calls } = scriptedFetch();
    const source = createTokenSource({ fetch });
    const all = Promise.all(Array.from({ length: 1_000 }, () => source.get()));
    await flush();
    expect(fetch).toHaveBeenCalledTimes(1);
    calls[0]!.answer.resolve({ token: 'tok-1', ttl: 900_000 });
    const tokens = await all;
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(source.stats()).toMatchObject({ fetches: 1, fetchesOk: 1, waits: 1_000, hits: 0 });
    // Afterwards: from memory.
    await expect(source.get()).resolves.toBe('tok-1');
    expect(fetch).toHaveBeenCalledTimes(1);
    source.close();
  });

  it('starts the background refresh exactly refreshBefore ahead of expiry', async () => {
    const { fetch, calls } = scriptedFetch();
    const source = createTokenSource({ fetch });
    const first = source.get();
    await flush();
    calls[0]!.answer.resolve({ token: 'tok-1', ttl: 15 * 60_000 });
    await first;
    // A 15-minute token is refreshed 90 s ahead: at 13:30.
    await vi.advanceTimersByTimeAsync(13.5 * 60_000 - 1);
    expect(fetch).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(calls[1]!.at - T0).toBe(13.5 * 60_000);
    // The new one (1 hour, as an absolute expiresAt) is refreshed 6 minutes ahead.
    const now = Date.now();
    calls[1]!.answer.resolve({ token: 'tok-2', ttl: 0, expiresAt: now + 3_600_000 } as never);
    await flush();
    await expect(source.get()).resolves.toBe('tok-2');
    await vi.advanceTimersByTimeAsync(54 * 60_000 - 1);
    expect(fetch).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(source.stats().refreshes).toBe(2);
    source.close();
  });

  it('1 000 concurrent get() during a refresh are answered from memory: 0 waits', async () => {
    const { fetch, calls } = scriptedFetch();
    const source = createTokenSource({ fetch });
    const first = source.get();
    await flush();
    calls[0]!.answer.resolve({ token: 'old', ttl: 60_000 });
    await first;
    await vi.advanceTimersByTimeAsync(30_000); // refresh of a 60 s token: 30 s ahead
    expect(fetch).toHaveBeenCalledTimes(2);
    const before = source.stats();
    let answered = 0;
    const during = Array.from({ length: 1_000 }, () =>
      source.get().then((token) => {
        answered++;
        return token;
      }),
    );
    // All answered while the refresh is still pending: nobody waited on it.
    await Promise.resolve();
    await Promise.resolve();
    expect(answered).toBe(1_000);
    expect(new Set(await Promise.all(during))).toEqual(new Set(['old']));
    expect(source.stats().waits - before.waits).toBe(0);
    expect(source.stats().hits - before.hits).toBe(1_000);
    calls[1]!.answer.resolve({ token: 'new', ttl: 60_000 });
    await flush();
    await expect(source.get()).resolves.toBe('new');
    expect(fetch).toHaveBeenCalledTimes(2);
    source.close();
  });

  it('retries a failing refresh with backoff, serves the old token until the hard window, then a typed error', async () => {
    const errors: unknown[] = [];
    let fail = true;
    let n = 0;
    const fetchTimes: number[] = [];
    const fetch = vi.fn(async () => {
      fetchTimes.push(Date.now() - T0);
      n++;
      if (n > 1 && fail) throw new Error('provider down');
      return { token: `tok-${n}`, ttl: 60_000 };
    });
    const warnings: Record<string, unknown>[] = [];
    const source = createTokenSource({
      fetch,
      retry: { initialMs: 1_000, maxMs: 8_000, jitter: 0 },
      logger: { warn: (_m, fields) => warnings.push(fields ?? {}) },
    });
    await expect(source.get()).resolves.toBe('tok-1');
    // Refresh at 30 s fails; retries 1, 2, 4, 8, 8 s later… while the old token is served.
    await vi.advanceTimersByTimeAsync(30_000);
    for (let t = 30_000; t < 59_000; t += 500) {
      await expect(source.get()).resolves.toBe('tok-1');
      await vi.advanceTimersByTimeAsync(500);
    }
    // Now at 59 s = expiresAt − hardWindow: never the old token again.
    expect(Date.now() - T0).toBe(59_000);
    for (let i = 0; i < 5; i++) {
      const error = await source.get().catch((e: unknown) => e);
      errors.push(error);
      expect(error).toBeInstanceOf(TokenUnavailableError);
      expect((error as TokenUnavailableError).code).toBe('TOKEN_UNAVAILABLE');
      expect(((error as Error).cause as Error).message).toBe('provider down');
      await vi.advanceTimersByTimeAsync(3_000);
    }
    expect(fetchTimes.slice(0, 7)).toEqual([0, 30_000, 31_000, 33_000, 37_000, 45_000, 53_000]);
    expect(source.stats()).toMatchObject({ fetchesFailed: fetchTimes.length - 1 });
    expect(source.stats().servedStale).toBeGreaterThan(0);
    expect(source.stats().unavailable).toBe(5);
    expect(source.stats().consecutiveFailures).toBe(fetchTimes.length - 1);
    expect(warnings[0]).toMatchObject({
      attempt: 1,
      retryInMs: 1_000,
      error: 'Error: provider down',
    });
    expect(JSON.stringify(warnings)).not.toContain('tok-');
    // The provider recovers: the next retry fetches, and callers get the new token.
    fail = false;
    await vi.advanceTimersByTimeAsync(8_000);
    await expect(source.get()).resolves.toBe(`tok-${n}`);
    expect(source.stats().consecutiveFailures).toBe(0);
    source.close();
  });

  it('a caller past the hard window waits for a retry in flight instead of getting the expired token', async () => {
    const { fetch, calls } = scriptedFetch();
    const source = createTokenSource({ fetch, hardWindow: 1_000 });
    const first = source.get();
    await flush();
    calls[0]!.answer.resolve({ token: 'old', ttl: 10_000 });
    await first;
    await vi.advanceTimersByTimeAsync(5_000); // refresh starts, and hangs
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(4_500); // 9.5 s: inside the hard window
    const late = source.get();
    await flush();
    calls[1]!.answer.resolve({ token: 'new', ttl: 10_000 });
    await expect(late).resolves.toBe('new');
    source.close();
  });

  it('close() during a fetch aborts it through the signal and leaves no timer', async () => {
    const { fetch, calls } = scriptedFetch();
    const source = createTokenSource({ fetch });
    const waiting = source.get();
    await flush();
    expect(vi.getTimerCount()).toBe(1); // the fetch timeout
    source.close();
    expect(calls[0]!.signal.aborted).toBe(true);
    await expect(waiting).rejects.toBeInstanceOf(TokenSourceClosedError);
    expect(vi.getTimerCount()).toBe(0);
    await expect(source.get()).rejects.toBeInstanceOf(TokenSourceClosedError);
    expect(source.closed).toBe(true);
  });

  it('close() answers waiting callers even when fetch ignores the signal, and stops the refresh timer', async () => {
    const source = createTokenSource({
      fetch: () => new Promise(() => {}), // never answers, never listens
    });
    const waiting = source.get();
    await flush();
    source.close();
    await expect(waiting).rejects.toBeInstanceOf(TokenSourceClosedError);
    expect(vi.getTimerCount()).toBe(0);

    const healthy = createTokenSource({ fetch: async () => ({ token: 't', ttl: 60_000 }) });
    await healthy.get();
    expect(vi.getTimerCount()).toBe(1); // the refresh timer
    healthy.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('aborts a fetch slower than fetchTimeout and reports a typed error', async () => {
    let signal: AbortSignal | undefined;
    const source = createTokenSource({
      fetchTimeout: 5_000,
      fetch: (s) => {
        signal = s;
        return new Promise(() => {});
      },
    });
    const waiting = source.get().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5_000);
    const error = (await waiting) as TokenUnavailableError;
    expect(error).toBeInstanceOf(TokenUnavailableError);
    expect(error.cause).toBeInstanceOf(TokenFetchTimeoutError);
    expect(signal?.aborted).toBe(true);
    source.close();
  });

  it('rejects a token that is already inside its hard window', async () => {
    const source = createTokenSource({ fetch: async () => ({ token: 't', ttl: 500 }) });
    const error = (await source.get().catch((e: unknown) => e)) as TokenUnavailableError;
    expect(error).toBeInstanceOf(TokenUnavailableError);
    expect((error.cause as { code: string }).code).toBe('INVALID_TOKEN_RESULT');
    source.close();
  });

  it('stops refreshing after idleCycles refreshes without a read, and starts again on get()', async () => {
    let n = 0;
    const fetch = vi.fn(async () => ({ token: `tok-${++n}`, ttl: 60_000 }));
    const source = createTokenSource({ fetch, idleCycles: 2 });
    await source.get();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    // Refreshes at 30 s and 60 s (2 cycles without a read), then idle.
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(source.stats().idle).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    // Its token expired meanwhile: the next get() waits for one fetch.
    await expect(source.get()).resolves.toBe('tok-4');
    expect(source.stats().idle).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    source.close();
  });

  it('refresh(rejected) fetches once for many rejections of one token, not for a token already replaced, and at most once per minRefreshInterval', async () => {
    let n = 0;
    const fetch = vi.fn(async () => ({ token: `tok-${++n}`, ttl: 600_000 }));
    const source = createTokenSource({ fetch, minRefreshInterval: 1_000 });
    await source.get();
    // 50 requests refused with tok-1 together: one fetch.
    const many = await Promise.all(Array.from({ length: 50 }, () => source.refresh('tok-1')));
    expect(new Set(many)).toEqual(new Set(['tok-2']));
    expect(fetch).toHaveBeenCalledTimes(2);
    await expect(source.refresh('tok-1')).resolves.toBe('tok-2'); // already replaced
    // tok-2 refused too, right after a forced refresh: no second one within minRefreshInterval.
    await expect(source.refresh('tok-2')).resolves.toBe('tok-2');
    expect(fetch).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(source.refresh('tok-2')).resolves.toBe('tok-3');
    expect(fetch).toHaveBeenCalledTimes(3);
    source.close();
  });

  it('its default timers are unref()ed: no source keeps the process alive', async () => {
    vi.useRealTimers();
    const handles: { hasRef(): boolean }[] = [];
    const clock: Clock = {
      now: systemClock.now,
      setTimeout: (fn, ms) => {
        const handle = systemClock.setTimeout(fn, ms) as { hasRef(): boolean };
        handles.push(handle);
        return handle;
      },
      clearTimeout: systemClock.clearTimeout,
    };
    const source = createTokenSource({ clock, fetch: async () => ({ token: 't', ttl: 60_000 }) });
    await source.get();
    expect(handles.length).toBe(2); // fetch timeout, refresh timer
    expect(handles.map((h) => h.hasRef())).toEqual([false, false]);
    source.close();
  });
});
