/**
 * Scoped invalidation (`auth.invalidateScope`): drop every cached identity of a token id, a
 * subject, a kind, an access key or everything, on this instance, in the shared tier, and on
 * every instance through the buses. Nothing is revoked: the store has the last word.
 *
 * The shared tier is keyed by token hash, so it cannot find a subject's entries by key. Instead
 * each scoped invalidation records an *epoch* (this clock + `tierSkewMs`): a tier identity that
 * matches the scope and was filled (`filledAt`, the start of its load) before the epoch is
 * stale. The tier checks the epochs it recorded on every read (`SharedTier.invalidateScope`), and
 * this instance checks the epochs it made or heard of too (so a tier without scope support, or
 * one that missed the record, still never refills L1 with a stale identity). Epochs are kept
 * until every value filled before them is gone from the tier.
 */
import {
  identityEpochFields,
  parseInvalidationScope,
  scopeEpochField,
  scopeMatches,
} from '../scopes.js';
import type {
  Identity,
  InvalidationBus,
  InvalidationEvent,
  InvalidationScope,
  InvalidationScopeName,
  Logger,
  ScopeInvalidationMessage,
  SharedTier,
} from '../types.js';
import type { Counters } from './counters.js';
import type { Entries } from './entries.js';
import type { Loader } from './loader.js';
import { attempt } from './results.js';

/** What `auth.invalidateScope` answers. */
export interface ScopeInvalidationResult {
  readonly scope: InvalidationScope;
  /** Tier identities of this scope filled before this time (epoch ms) are stale. */
  readonly epoch: number;
  /** Identities dropped from this instance's L1. */
  readonly dropped: number;
  /** Whether the shared tier recorded it (`true` without a tier). */
  readonly tierCleared: boolean;
  /** How many buses did not take it (failed, or cannot carry scoped invalidations). */
  readonly busesFailed: number;
}

export interface ScopedOptions {
  tier: SharedTier | undefined;
  buses: readonly InvalidationBus[];
  counters: Counters;
  logger: Logger;
  entries: Pick<Entries, 'dropMatching'>;
  loader: Pick<Loader, 'markAllStale'>;
  clock: () => number;
  tierSkewMs: number;
  /** How long an epoch must be remembered: longer than any tier value filled before it lives. */
  keepMs: number;
  emit(event: InvalidationEvent): void;
}

export interface Scoped {
  /** `auth.invalidateScope`: validates, then applies and publishes with a fresh epoch. */
  invalidate(scope: InvalidationScope): Promise<ScopeInvalidationResult>;
  /** A scoped invalidation delivered by a bus (validated; malformed ones are ignored). */
  onRemote(message: ScopeInvalidationMessage): void;
  apply(
    message: ScopeInvalidationMessage,
    steps: { clearTier: boolean; publish: boolean },
  ): Promise<ScopeInvalidationResult>;
  /** Makes a new epoch for a scoped invalidation made here. */
  epochNow(): number;
  /** Whether a tier identity under `kind`, filled at `filledAt`, predates an epoch covering it. */
  isStale(kind: string, identity: Identity, filledAt: number | undefined): boolean;
  counts(): Record<InvalidationScopeName, number>;
}

export function createScoped(options: ScopedOptions): Scoped {
  const { tier, buses, counters, logger, entries, loader, clock, tierSkewMs, keepMs, emit } =
    options;
  /** Epoch field → { epoch, until }: dropped once no tier value filled before it can exist. */
  const epochs = new Map<string, { epoch: number; until: number }>();
  const byScope: Record<InvalidationScopeName, number> = {
    token: 0,
    subject: 0,
    kind: 0,
    access_key: 0,
    all: 0,
  };

  function remember(field: string, epoch: number): void {
    const now = clock();
    for (const [key, value] of epochs) if (value.until <= now) epochs.delete(key);
    const previous = epochs.get(field);
    if (previous && previous.epoch >= epoch) return;
    epochs.set(field, { epoch, until: now + keepMs });
  }

  function dropLocal(scope: InvalidationScope): number {
    // `all` drops unknown tokens too, `kind` those of its kind; tombstones always stay.
    const negativePrefix =
      scope.scope === 'all' ? '' : scope.scope === 'kind' ? `${scope.kind}:` : undefined;
    const dropped = entries.dropMatching(
      (key, identity) => scopeMatches(scope, key.slice(0, key.indexOf(':')), identity),
      negativePrefix,
    );
    // A load under way may have read what this drops: its answer is thrown away and retried.
    loader.markAllStale();
    return dropped;
  }

  async function apply(
    message: ScopeInvalidationMessage,
    { clearTier, publish }: { clearTier: boolean; publish: boolean },
  ): Promise<ScopeInvalidationResult> {
    const { scope, epoch } = message;
    byScope[scope.scope]++;
    remember(scopeEpochField(scope), epoch);
    let dropped = dropLocal(scope);
    let tierCleared = true;
    if (tier && clearTier) {
      if (tier.invalidateScope) {
        tierCleared = await attempt(() => tier.invalidateScope!(scope, epoch, keepMs)).then(
          () => true,
          () => {
            counters.l2Errors++;
            return false;
          },
        );
      } else tierCleared = false;
      if (!tierCleared) {
        // This instance's epochs still reject stale tier values; receivers try the tier too.
        logger.warn('authcache: the shared tier did not record a scoped invalidation', {
          scope: scope.scope,
        });
      }
      // Whatever a load cached from the tier meanwhile is dropped again.
      dropped += dropLocal(scope);
    }
    emit({ type: 'scope', scope, epoch });
    let busesFailed = 0;
    if (publish) {
      const outgoing: ScopeInvalidationMessage = {
        scope,
        epoch,
        ...(tierCleared ? {} : { tierCleared: false }),
      };
      await Promise.all(
        buses.map((bus) => {
          if (!bus.publishScope) {
            busesFailed++;
            return undefined;
          }
          return attempt(() => bus.publishScope!(outgoing)).catch(() => {
            busesFailed++;
          });
        }),
      );
      if (busesFailed > 0) {
        logger.warn('authcache: publishing a scoped invalidation failed on some buses', {
          scope: scope.scope,
          buses: busesFailed,
        });
      }
    }
    return Object.freeze({ scope, epoch, dropped, tierCleared, busesFailed });
  }

  return {
    apply,
    async invalidate(scope) {
      const parsed = parseInvalidationScope(scope);
      if (!parsed.ok) throw new TypeError(`auth.invalidateScope: ${parsed.message}`);
      const message = { scope: parsed.scope, epoch: clock() + tierSkewMs };
      return apply(message, { clearTier: true, publish: true });
    },
    onRemote(message) {
      const parsed = parseInvalidationScope(message?.scope);
      if (!parsed.ok || !Number.isFinite(message.epoch)) return;
      void apply(
        { scope: parsed.scope, epoch: message.epoch },
        { clearTier: message.tierCleared === false, publish: false },
      );
    },
    epochNow: () => clock() + tierSkewMs,
    isStale(kind, identity, filledAt) {
      if (epochs.size === 0) return false;
      const now = clock();
      for (const field of identityEpochFields(kind, identity)) {
        const recorded = epochs.get(field);
        if (recorded === undefined || recorded.until <= now) continue;
        if (typeof filledAt !== 'number' || filledAt < recorded.epoch) return true;
      }
      return false;
    },
    counts: () => ({ ...byScope }),
  };
}
