/**
 * `auth.stats()`: the counters, the live entry counts, and what the shared tier and the buses
 * report through their optional `stats()`. Read on demand (a scrape), never on a request.
 */
import type { AuthCacheStats } from '../stats.js';
import type { InvalidationBus, SharedTier } from '../types.js';
import { type Counters, countersSnapshot } from './counters.js';
import type { Entries } from './entries.js';
import type { PendingInvalidations } from './pending.js';

export interface SnapshotSources {
  enabled: boolean;
  counters: Counters;
  entries: Pick<Entries, 'size' | 'negativeSize' | 'tombstones'>;
  pending: Pick<PendingInvalidations, 'counts'>;
  tier: SharedTier | undefined;
  buses: readonly InvalidationBus[];
  /** Scoped invalidations per scope (see `cache/scoped.ts`). */
  scopeCounts: () => AuthCacheStats['invalidationsByScope'];
}

const BREAKER_STATES = { closed: 0, 'half-open': 1, open: 2 } as const;

/** A part's own `stats()` must never break `auth.stats()`: a throw reads as "not reported". */
function safely<T>(read: (() => T) | undefined): T | undefined {
  if (!read) return undefined;
  try {
    return read();
  } catch {
    return undefined;
  }
}

export function snapshotStats(sources: SnapshotSources): AuthCacheStats {
  const { counters, entries, tier, buses } = sources;
  const counts = sources.pending.counts();
  const state = safely(tier?.stats ? () => tier.stats?.().state : undefined);
  let busesConnected = 0;
  let busCatchUps = 0;
  let lastMessageAt: number | undefined;
  for (const bus of buses) {
    const health = safely(bus.stats ? () => bus.stats?.() : undefined);
    if (!health) continue;
    if (health.connected) busesConnected++;
    if (Number.isFinite(health.caughtUp)) busCatchUps += health.caughtUp;
    const at = health.lastMessageAt;
    if (typeof at === 'number' && (lastMessageAt === undefined || at > lastMessageAt)) {
      lastMessageAt = at;
    }
  }
  return {
    ...countersSnapshot(counters),
    passThrough: sources.enabled ? 0 : 1,
    l2BreakerState: state === undefined ? -1 : (BREAKER_STATES[state] ?? -1),
    pendingTier: counts.tier,
    pendingPublish: counts.publish,
    buses: buses.length,
    busesConnected,
    // Bus timestamps come from the bus's own clock (`Date.now`), not the injected one.
    busLagMs: lastMessageAt === undefined ? -1 : Math.max(0, Date.now() - lastMessageAt),
    busCatchUps,
    size: entries.size,
    negativeSize: entries.negativeSize,
    tombstones: entries.tombstones,
    invalidationsByScope: sources.scopeCounts(),
  };
}
