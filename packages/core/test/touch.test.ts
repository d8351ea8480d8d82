import { describe, expect, it } from 'vitest';
import { createTouchScheduler } from '../src/touch.js';
import type { SharedTier, TokenStore } from '../src/types.js';

/** A store that records `touch` batches; nothing else of it is used by the scheduler. */
function recordingStore() {
  const batches: { kind: string; ids: string[] }[] = [];
  const store = {
    findByHash: async () => null,
    revoke: async () => [],
    touch: async (kind: string, ids: string[]) => {
      batches.push({ kind, ids: [...ids] });
    },
  } as unknown as TokenStore;
  return { store, batches };
}

/** A tier whose touch claims answer after `delayMs` with `answer` (or reject). */
function slowClaims(delayMs: number, answer: boolean | Error): SharedTier {
  const later = <T>(value: () => T) =>
    new Promise<T>((resolve, reject) =>
      setTimeout(() => {
        try {
          resolve(value());
        } catch (error) {
          reject(error);
        }
      }, delayMs),
    );
  return {
    get: async () => undefined,
    fill: async () => {},
    invalidate: async () => {},
    claimTouch: () =>
      later(() => {
        if (answer instanceof Error) throw answer;
        return answer;
      }),
  } as unknown as SharedTier;
}

function scheduler(store: TokenStore, tier: SharedTier) {
  return createTouchScheduler({
    store,
    tier,
    interval: 60_000,
    flushEvery: 60_000,
    maxEntries: 100,
    clock: Date.now,
    logger: { warn() {}, error() {}, info() {}, debug() {} } as never,
    onBatch() {},
  });
}

describe('touch scheduler: flush waits for the claims already asked', () => {
  it('a claim won after flush() was called is written by that flush, not lost', async () => {
    const { store, batches } = recordingStore();
    const touches = scheduler(store, slowClaims(40, true));
    touches.record('pat:a', 'pat', '1');
    touches.record('pat:b', 'pat', '2');
    await touches.flush();
    expect(batches).toEqual([{ kind: 'pat', ids: ['1', '2'] }]);
    await touches.close();
  });

  it('a lost claim writes nothing; a failed claim writes (the database skips a repeat anyway)', async () => {
    const lost = recordingStore();
    const a = scheduler(lost.store, slowClaims(20, false));
    a.record('pat:a', 'pat', '1');
    await a.close();
    expect(lost.batches).toEqual([]);

    const failed = recordingStore();
    const b = scheduler(failed.store, slowClaims(20, new Error('redis down')));
    b.record('pat:a', 'pat', '1');
    await b.close();
    expect(failed.batches).toEqual([{ kind: 'pat', ids: ['1'] }]);
  });
});
