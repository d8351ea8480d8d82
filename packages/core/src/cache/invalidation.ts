/**
 * The one path every invalidation takes, local or remote: drop the key from L1 and stale its
 * loads, write a tombstone for a revoke, clear the shared tier, tell the listeners, publish on
 * the buses; a failed tier or bus step goes to the pending retries. Also the bus wiring
 * (remote invalidations and flushes) and `clear()`.
 */
import { isValidKindName } from '../tokens.js';
import type {
  InvalidationBus,
  InvalidationEvent,
  InvalidationMessage,
  Logger,
  ScopeInvalidationMessage,
  SharedTier,
} from '../types.js';
import type { Counters } from './counters.js';
import type { Entries } from './entries.js';
import type { Loader } from './loader.js';
import type { PendingInvalidations } from './pending.js';
import { attempt } from './results.js';

/** Invalidates the shared tier; resolves `false` when that failed (the caller retries it). */
export type TierInvalidator = (
  key: string,
  reason: InvalidationMessage['reason'],
) => Promise<boolean>;

/** The tier step of an invalidation (a revoke also leaves a tier tombstone for `tombstoneTtl`). */
export function createTierInvalidator(
  tier: SharedTier | undefined,
  tombstoneTtl: number,
  counters: Counters,
): TierInvalidator {
  return (key, reason) => {
    if (!tier) return Promise.resolve(true);
    const tombstoneMs = reason === 'revoked' ? tombstoneTtl : 0;
    return attempt(() => tier.invalidate(key, tombstoneMs)).then(
      () => true,
      () => {
        counters.l2Errors++;
        return false;
      },
    );
  };
}

/** Publishes on `targets`; resolves to the buses that failed. Never rejects. */
export async function publishTo(
  targets: Iterable<InvalidationBus>,
  message: InvalidationMessage,
): Promise<InvalidationBus[]> {
  const failed: InvalidationBus[] = [];
  await Promise.all(
    [...targets].map((bus) =>
      attempt(() => bus.publish(message)).catch(() => {
        failed.push(bus);
      }),
    ),
  );
  return failed;
}

export interface InvalidationOptions {
  tier: SharedTier | undefined;
  buses: readonly InvalidationBus[];
  counters: Counters;
  logger: Logger;
  entries: Entries;
  loader: Pick<Loader, 'markStale' | 'markAllStale'>;
  pending: Pick<PendingInvalidations, 'add'>;
  invalidateTier: TierInvalidator;
  /** Handles a scoped invalidation delivered by a bus (see `cache/scoped.ts`). */
  onRemoteScope?(message: ScopeInvalidationMessage): void;
}

export interface Invalidation {
  /**
   * Applies one invalidation. `clearTier`: this instance must clear the shared tier (its own
   * revokes and invalidations, and changes no instance has cleared yet). `publish`: announce it
   * on the buses (only for changes made here).
   */
  apply(
    message: InvalidationMessage,
    steps: { clearTier: boolean; publish: boolean },
  ): Promise<void>;
  /** Drops every cached entry except tombstones, stales every load, and tells the listeners. */
  clear(): void;
  onInvalidate(listener: (event: InvalidationEvent) => void): () => void;
  /** Tells the listeners. */
  emit(event: InvalidationEvent): void;
  /** Starts every bus; resolves when every subscription is live. */
  startBuses(): Promise<void>;
}

export function createInvalidation(options: InvalidationOptions): Invalidation {
  const { tier, buses, counters, logger, entries, loader, pending, invalidateTier } = options;
  const { onRemoteScope } = options;
  const listeners = new Set<(event: InvalidationEvent) => void>();

  function emit(event: InvalidationEvent): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.warn('authcache: an invalidation listener threw', { error: String(error) });
      }
    }
  }

  /** Drops a key's cached state on this instance and stales its running loads. */
  function dropLocal(key: string): void {
    entries.dropPositive(key);
    loader.markStale(key);
  }

  async function apply(
    message: InvalidationMessage,
    { clearTier, publish }: { clearTier: boolean; publish: boolean },
  ): Promise<void> {
    const key = `${message.kind}:${message.tokenHash}`;
    // Made here (and published) or delivered by a bus.
    if (publish) counters.forKind(message.kind).invalidationsLocal++;
    else counters.forKind(message.kind).invalidationsBus++;
    dropLocal(key);
    const revoked = message.reason === 'revoked';
    if (revoked) entries.rememberTombstone(key);
    else entries.dropNegative(key);
    const event: InvalidationEvent = { type: 'invalidate', ...message };
    let tierCleared = true;
    if (tier && clearTier) {
      // A revoke's tombstone already stops reloads. Anything else could be read back from the
      // shared tier until it is cleared, so listeners (which re-check at once) hear of it only
      // afterwards, and whatever a load cached from the old value meanwhile is dropped again.
      if (revoked) emit(event);
      tierCleared = await invalidateTier(key, message.reason);
      if (!tierCleared) {
        logger.warn('authcache: shared tier invalidation failed; retrying in the background', {
          kind: message.kind,
        });
        // Until it succeeds, loads of this key skip the tier, and a revoke stays pinned.
        pending.add(message, { tier: true });
      }
      dropLocal(key);
      if (!revoked) emit(event);
    } else emit(event);
    if (!publish || buses.length === 0) return;
    const outgoing: InvalidationMessage = {
      kind: message.kind,
      tokenHash: message.tokenHash,
      reason: message.reason,
      // Receivers then invalidate the tier themselves (idempotent).
      ...(tierCleared ? {} : { tierCleared: false }),
    };
    const failed = await publishTo(buses, outgoing);
    if (failed.length > 0) {
      logger.warn('authcache: publishing an invalidation failed; retrying in the background', {
        kind: message.kind,
        buses: failed.length,
      });
      pending.add(message, { buses: failed });
    }
  }

  /** Handles an invalidation delivered by a bus. */
  function onRemote(message: InvalidationMessage): void {
    if (!isValidKindName(message?.kind) || typeof message.tokenHash !== 'string') return;
    // An instance publishes after clearing the shared tier, unless it says it could not
    // (tierCleared: false); the store's own changes (fromStore) reached nobody's tier yet.
    void apply(message, {
      clearTier: message.fromStore === true || message.tierCleared === false,
      publish: false,
    });
  }

  function clear(): void {
    entries.clear();
    loader.markAllStale();
    emit({ type: 'flush' });
  }

  return {
    apply,
    clear,
    emit,
    onInvalidate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    startBuses() {
      return Promise.all(
        buses.map((bus) =>
          bus.start({
            onInvalidate: onRemote,
            onFlush: clear,
            ...(onRemoteScope ? { onScopeInvalidate: onRemoteScope } : {}),
          }),
        ),
      ).then(() => undefined);
    },
  };
}
