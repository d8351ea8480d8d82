/**
 * Bounded stale-on-error (the `staleIfError` option): when a load answers `unavailable` (the
 * store unreachable or past `storeTimeoutMs`, and the shared tier had nothing), an identity
 * whose L1 entry ended less than `staleIfError` ago is served instead, and counted as a stale
 * hit. The rules, each enforced here or by what keeps the entry:
 *
 * - only for `unavailable`: any answer from the store or the tier (`invalid`, `expired`,
 *   `revoked`, an identity) is the answer;
 * - never past the token's `expiresAt` (the entry's `staleUntil` is clamped to it, and it is
 *   checked again here against the clock);
 * - never after a revoke, tombstone or invalidation of the token: those drop the entry (and a
 *   tombstone or a pending revoke is checked again here);
 * - never from a negative entry: only positive entries are kept past their deadline;
 * - nothing is extended: serving stale does not touch the entry, and a failed refresh-ahead
 *   reload leaves its deadline (and so its stale window) where it was.
 */
import type { ResolveResult } from '../types.js';
import type { Counters } from './counters.js';
import type { Entries } from './entries.js';
import { UNAVAILABLE } from './results.js';

export interface StaleOnErrorOptions {
  /** The `staleIfError` option, in ms; `0` turns stale-on-error off. */
  staleIfError: number;
  entries: Pick<Entries, 'ended' | 'revokedHere'>;
  counters: Pick<Counters, 'forKind'>;
  clock: () => number;
}

export interface StaleOnError {
  /** Whether stale answers can ever be given (`staleIfError > 0`). */
  readonly enabled: boolean;
  /** `result`, or, when it is `unavailable`, the key's stale identity if one may be served. */
  orElse(kind: string, key: string, result: ResolveResult): ResolveResult;
}

export function createStaleOnError(options: StaleOnErrorOptions): StaleOnError {
  const { staleIfError, entries, counters, clock } = options;
  return {
    enabled: staleIfError > 0,
    orElse(kind, key, result) {
      if (result !== UNAVAILABLE || staleIfError <= 0) return result;
      const now = clock();
      const entry = entries.ended(key, now);
      if (entry === undefined) return result;
      const { expiresAt } = entry.identity;
      if (expiresAt !== null && now >= expiresAt) return result;
      // A tombstone or a revoke still being retried beats any cached identity.
      if (entries.revokedHere(key, now)) return result;
      counters.forKind(kind).staleHits++;
      return entry.result;
    },
  };
}
