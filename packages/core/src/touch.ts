import { LRUCache } from 'lru-cache';
import type { Logger, SharedTier, TokenStore } from './types.js';

/** Options of {@link createTouchScheduler}. */
export interface TouchSchedulerOptions {
  store: TokenStore;
  /** Minimum time between two `last_used_at` writes of one token, in ms. */
  interval: number;
  /** How often pending touches are written, in ms. */
  flushEvery: number;
  /** Bounds the per-token "last scheduled" memory. */
  maxEntries: number;
  clock: () => number;
  logger: Logger;
  tier?: SharedTier;
  onBatch(ok: boolean, count: number): void;
  /** A use was queued for the next batch (at most once per token per interval). Optional. */
  onQueued?(): void;
}

/** Collects "token used" marks and writes them in batches, at most once per interval per token. */
export interface TouchScheduler {
  record(key: string, kind: string, tokenId: string): void;
  /**
   * Writes everything pending now, after the cluster-wide claims already asked for have been
   * answered (a claim won just before shutdown is written, not lost). Never rejects.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createTouchScheduler(options: TouchSchedulerOptions): TouchScheduler {
  const { store, interval, clock, logger, tier } = options;
  // key → when this instance last scheduled a write for it. Bounded: forgetting a key costs at
  // most one extra conditional UPDATE, which the database skips anyway.
  const scheduled = new LRUCache<string, number>({ max: options.maxEntries });
  let pending = new Map<string, { kind: string; tokenId: string }>();
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();
  /** Claims asked of the tier and not answered yet (each settles once its use is queued or not). */
  const claims = new Set<Promise<unknown>>();

  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, options.flushEvery);
    timer.unref();
  };

  const enqueue = (key: string, kind: string, tokenId: string) => {
    pending.set(key, { kind, tokenId });
    options.onQueued?.();
    schedule();
  };

  function record(key: string, kind: string, tokenId: string): void {
    const now = clock();
    const last = scheduled.get(key);
    if (last !== undefined && now - last < interval) return;
    scheduled.set(key, now);
    if (!tier?.claimTouch) {
      enqueue(key, kind, tokenId);
      return;
    }
    // Cluster-wide: only the instance that wins the claim writes this window.
    let claim: Promise<boolean>;
    try {
      claim = Promise.resolve(tier.claimTouch(`touch:${key}`, interval));
    } catch (error) {
      // A tier that throws synchronously is a failed claim, like any other tier failure.
      claim = Promise.reject(error);
    }
    const settled = claim.then(
      (won) => won && enqueue(key, kind, tokenId),
      () => enqueue(key, kind, tokenId),
    );
    claims.add(settled);
    void settled.then(() => claims.delete(settled));
  }

  async function write(batch: Map<string, { kind: string; tokenId: string }>): Promise<void> {
    const byKind = new Map<string, string[]>();
    for (const { kind, tokenId } of batch.values()) {
      const ids = byKind.get(kind);
      if (ids) ids.push(tokenId);
      else byKind.set(kind, [tokenId]);
    }
    const now = clock();
    for (const [kind, ids] of byKind) {
      try {
        // The store skips rows used after `notUsedSince`; +1 makes a row last touched exactly one
        // interval ago eligible, matching the scheduler's own "at most once per interval".
        await store.touch(kind, ids, new Date(now), new Date(now - interval + 1));
        options.onBatch(true, ids.length);
      } catch (error) {
        options.onBatch(false, ids.length);
        logger.warn('authcache: writing last_used_at failed; auth is unaffected', {
          kind,
          tokens: ids.length,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  function flush(): Promise<void> {
    // Only the claims asked so far: under steady traffic new ones keep coming, and the tier's own
    // timeout bounds how long these take.
    if (claims.size > 0) return Promise.allSettled([...claims]).then(flushNow);
    return flushNow();
  }

  function flushNow(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    const batch = pending;
    pending = new Map();
    // Serialise batches so that close() waits for a write already under way.
    inflight = inflight.then(() => (batch.size > 0 ? write(batch) : undefined));
    return inflight;
  }

  return { record, flush, close: flush };
}
