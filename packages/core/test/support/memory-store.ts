import { hashToken, type Identity, type TokenStore } from '../../src/index.js';

interface Row {
  identity: Identity;
  revoked: boolean;
  lastUsedAt: number | null;
}

/**
 * An in-memory TokenStore for resolver unit tests: it counts every call and lets a test hold
 * `findByHash` answers behind a gate to stage races deterministically. Store behaviour against
 * real databases is covered by @authcache/pg's contract suite.
 */
export function createMemoryStore(clock: () => number = Date.now) {
  const rows = new Map<string, Row>(); // key: kind:hash
  const calls = { find: 0, touch: 0, touchedIds: [] as string[], revoke: 0 };
  let gate: Promise<void> | undefined;
  let failWith: Error | undefined;
  let nextId = 1;

  const store: TokenStore = {
    hashToken,
    async findByHash(kind, tokenHash) {
      calls.find++;
      if (failWith) throw failWith;
      const row = rows.get(`${kind}:${tokenHash}`);
      const now = clock();
      const live =
        row && !row.revoked && (row.identity.expiresAt === null || row.identity.expiresAt > now);
      const answer = live ? row.identity : null;
      // Read first, then wait: models a SELECT that returned before a concurrent revoke.
      if (gate) await gate;
      return answer;
    },
    async touch(kind, ids, usedAt, notUsedSince) {
      calls.touch++;
      if (failWith) throw failWith;
      for (const row of rows.values()) {
        if (row.identity.kind !== kind || !ids.includes(row.identity.tokenId)) continue;
        if (row.lastUsedAt === null || row.lastUsedAt < notUsedSince.getTime()) {
          row.lastUsedAt = usedAt.getTime();
          calls.touchedIds.push(row.identity.tokenId);
        }
      }
    },
    async revoke(kind, tokenId, options) {
      calls.revoke++;
      const out: string[] = [];
      for (const [key, row] of rows) {
        const { identity } = row;
        if (identity.kind !== kind || identity.tokenId !== tokenId || row.revoked) continue;
        if (options?.subject !== undefined && identity.subject !== options.subject) continue;
        row.revoked = true;
        out.push(key.slice(kind.length + 1));
      }
      return out;
    },
  };

  return {
    store,
    calls,
    add(kind: string, token: string, fields: Partial<Identity> = {}): Identity {
      const identity: Identity = {
        kind,
        tokenId: String(nextId++),
        subject: 'user-1',
        scopes: [],
        expiresAt: null,
        ...fields,
      };
      rows.set(`${kind}:${hashToken(token)}`, { identity, revoked: false, lastUsedAt: null });
      return identity;
    },
    lastUsedAt(tokenId: string): number | null {
      for (const row of rows.values()) if (row.identity.tokenId === tokenId) return row.lastUsedAt;
      return null;
    },
    /** Holds every findByHash answer until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((r) => {
        release = r;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    fail(error: Error | undefined) {
      failWith = error;
    },
  };
}

/** A manually advanced clock. */
export function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}
