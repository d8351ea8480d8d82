/**
 * A keyed registry of token sources: exactly one source (so one refresher) per key, however many
 * callers race for it, closed when a configuration reload no longer names its key.
 */
import {
  createTokenSource,
  type TokenSource,
  type TokenSourceOptions,
  type TokenSourceStats,
} from './source.js';

/** Options of {@link createTokenSources}. */
export interface TokenSourcesOptions {
  /**
   * A source not read for this many refresh cycles stops refreshing (it starts again on its
   * next `get()`). Default: `3`. A factory's own `idleCycles` wins.
   */
  idleCycles?: number;
}

/** Registry totals, plus the sum of every live source's counters. Plain numbers. */
export interface TokenSourcesStats extends TokenSourceStats {
  /** Live sources. */
  sources: number;
  /** Sources created and closed since the registry was created. */
  created: number;
  closed: number;
}

/** See {@link createTokenSources}. */
export interface TokenSources {
  /** The source of `key`, created by the factory on first use (synchronously: racing callers share it). */
  source(key: string): TokenSource;
  /** Shorthand for `source(key).get()`. */
  get(key: string): Promise<string>;
  /** Whether `key` has a live source. */
  has(key: string): boolean;
  /** The keys with a live source. */
  keys(): string[];
  /**
   * Keeps the sources of `keys` and closes every other one (their timers stop, a fetch in flight
   * is aborted). Call it after a configuration reload. Returns the keys it closed.
   */
  reconcile(keys: Iterable<string>): string[];
  /** Closes and forgets the source of `key`; false if there was none. */
  delete(key: string): boolean;
  /** Counters of every live source, by key. */
  statsByKey(): Record<string, TokenSourceStats>;
  stats(): TokenSourcesStats;
  /** Closes every source; later `source()` calls throw. */
  close(): void;
}

/**
 * Creates a registry whose `factory(key)` gives the options of the source for `key` (for
 * example `host:port:user` → an RDS IAM password, or issuer+client+scope → a client-credentials
 * token). The factory runs once per key while its source lives.
 */
export function createTokenSources(
  factory: (key: string) => TokenSourceOptions,
  options: TokenSourcesOptions = {},
): TokenSources {
  const sources = new Map<string, TokenSource>();
  const idleCycles = options.idleCycles ?? 3;
  let created = 0;
  let closedCount = 0;
  let closed = false;

  function source(key: string): TokenSource {
    const existing = sources.get(key);
    if (existing) return existing;
    if (closed) throw new Error('createTokenSources: the registry is closed');
    const made = createTokenSource({ name: key, idleCycles, ...factory(key) });
    sources.set(key, made);
    created++;
    return made;
  }

  function remove(key: string): boolean {
    const existing = sources.get(key);
    if (!existing) return false;
    sources.delete(key);
    existing.close();
    closedCount++;
    return true;
  }

  return {
    source,
    get: (key) => {
      try {
        return source(key).get();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    has: (key) => sources.has(key),
    keys: () => [...sources.keys()],
    reconcile(keys) {
      const keep = new Set(keys);
      const removed = [...sources.keys()].filter((key) => !keep.has(key));
      for (const key of removed) remove(key);
      return removed;
    },
    delete: remove,
    statsByKey: () => Object.fromEntries([...sources].map(([key, s]) => [key, s.stats()])),
    stats() {
      const total: TokenSourcesStats = {
        sources: sources.size,
        created,
        closed: closedCount,
        hits: 0,
        waits: 0,
        fetches: 0,
        fetchesOk: 0,
        fetchesFailed: 0,
        refreshes: 0,
        servedStale: 0,
        unavailable: 0,
        consecutiveFailures: 0,
        expiresInMs: 0,
        idle: 0,
      };
      let first = true;
      for (const s of sources.values()) {
        const one = s.stats();
        for (const field of Object.keys(one) as (keyof TokenSourceStats)[]) {
          if (field === 'expiresInMs') continue;
          total[field] += one[field];
        }
        // The soonest expiry is the one to watch.
        total.expiresInMs = first ? one.expiresInMs : Math.min(total.expiresInMs, one.expiresInMs);
        first = false;
      }
      return total;
    },
    close() {
      closed = true;
      for (const key of [...sources.keys()]) remove(key);
    },
  };
}
