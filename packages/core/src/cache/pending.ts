/**
 * Invalidations whose shared-tier step or bus publish failed: remembered per key and retried in
 * the background with the shared jittered backoff, until every step succeeded or the stale
 * state they guard against has expired by itself. While a key's tier step is pending, loads
 * skip the tier; while a revoke is pending, the key answers `revoked`.
 */
import { type Backoff, type BackoffOptions, createBackoff } from '../retry.js';
import type { InvalidationBus, InvalidationMessage, Logger } from '../types.js';
import type { Counters } from './counters.js';

/** Retry timing: 100 ms doubling to 5 s, each delay a uniform pick in its upper half. */
export const PENDING_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000, jitter: 0.5 };

export interface PendingOptions {
  clock: () => number;
  logger: Logger;
  counters: Counters;
  /**
   * How long after a failed step the stale state it guards against may still live (a fill that
   * raced the operation ends at most one tier lifetime after its load started, and that load
   * started no earlier than one store deadline before it answered). Retrying stops after.
   */
  lifetimeMs: number;
  /** Invalidates the shared tier; `false` when that failed. Never rejects. */
  clearTier(key: string, reason: InvalidationMessage['reason']): Promise<boolean>;
  /** Publishes on `buses`; returns the buses that failed. Never rejects. */
  publish(
    buses: Iterable<InvalidationBus>,
    message: InvalidationMessage,
  ): Promise<InvalidationBus[]>;
  /** Default: {@link PENDING_BACKOFF}. */
  backoff?: BackoffOptions;
}

export interface PendingInvalidations {
  /** Remembers an invalidation step that failed; it is retried until done or moot. */
  add(
    message: InvalidationMessage,
    step: { tier?: boolean; buses?: readonly InvalidationBus[] },
  ): void;
  /** The tier may still hold `key`'s old value: loads must neither read nor fill it. */
  tierPending(key: string): boolean;
  /** A revoke of `key` is still being retried. */
  isRevokePending(key: string): boolean;
  /** Keys with a pending tier step, and keys with at least one pending publish. */
  counts(): { tier: number; publish: number };
  /** Stops every retry; later `add` calls are ignored. */
  close(): void;
}

interface Pending {
  readonly key: string;
  readonly kind: string;
  readonly tokenHash: string;
  reason: InvalidationMessage['reason'];
  /** The shared tier still has to be invalidated: until then loads skip it. */
  tier: boolean;
  /** Buses that still have to carry the message. */
  readonly buses: Set<InvalidationBus>;
  /** Epoch ms after which a stale tier value has expired by itself: retrying stops. */
  deadline: number;
  readonly backoff: Backoff;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
}

export function createPendingInvalidations(options: PendingOptions): PendingInvalidations {
  const { clock, logger, counters, lifetimeMs, clearTier, publish } = options;
  const backoffOptions = options.backoff ?? PENDING_BACKOFF;
  const pending = new Map<string, Pending>();
  let closed = false;

  function add(
    message: InvalidationMessage,
    step: { tier?: boolean; buses?: readonly InvalidationBus[] },
  ): void {
    if (closed) return;
    const key = `${message.kind}:${message.tokenHash}`;
    const deadline = clock() + lifetimeMs;
    let entry = pending.get(key);
    if (!entry) {
      entry = {
        key,
        kind: message.kind,
        tokenHash: message.tokenHash,
        reason: message.reason,
        tier: false,
        buses: new Set(),
        deadline,
        backoff: createBackoff(backoffOptions),
        timer: undefined,
        running: false,
      };
      pending.set(key, entry);
    }
    if (message.reason === 'revoked') entry.reason = 'revoked';
    if (step.tier) entry.tier = true;
    for (const bus of step.buses ?? []) entry.buses.add(bus);
    entry.deadline = Math.max(entry.deadline, deadline);
    if (!entry.timer && !entry.running) schedule(entry);
  }

  function schedule(entry: Pending): void {
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void retry(entry);
    }, entry.backoff.next());
    entry.timer.unref();
  }

  async function retry(entry: Pending): Promise<void> {
    const { key } = entry;
    if (closed || pending.get(key) !== entry) return;
    entry.running = true;
    try {
      if (entry.tier) {
        counters.tierRetries++;
        if (await clearTier(key, entry.reason)) entry.tier = false;
      }
      if (entry.buses.size > 0) {
        counters.publishRetries++;
        const message: InvalidationMessage = {
          kind: entry.kind,
          tokenHash: entry.tokenHash,
          reason: entry.reason,
          ...(entry.tier ? { tierCleared: false } : {}),
        };
        const failed = new Set(await publish(entry.buses, message));
        for (const bus of [...entry.buses]) if (!failed.has(bus)) entry.buses.delete(bus);
      }
    } finally {
      entry.running = false;
    }
    if (closed) return;
    if (!entry.tier && entry.buses.size === 0) {
      pending.delete(key);
      return;
    }
    if (clock() >= entry.deadline) {
      // Whatever the tier held from before the operation has expired by now.
      pending.delete(key);
      logger.warn('authcache: gave up retrying an invalidation; its stale state has expired', {
        kind: entry.kind,
        tier: entry.tier,
        buses: entry.buses.size,
      });
      return;
    }
    schedule(entry);
  }

  return {
    add,
    tierPending: (key) => pending.get(key)?.tier === true,
    isRevokePending: (key) => pending.get(key)?.reason === 'revoked',
    counts() {
      let tier = 0;
      let publish = 0;
      for (const entry of pending.values()) {
        if (entry.tier) tier++;
        if (entry.buses.size > 0) publish++;
      }
      return { tier, publish };
    },
    close() {
      closed = true;
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
    },
  };
}
