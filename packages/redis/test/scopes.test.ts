import type { Identity } from '@authcache/core';
import type { PgTokenStore } from '@authcache/pg';
import { createRedisTier } from '@authcache/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, startInstance } from './support/instances.js';
import { freshDatabase, waitFor } from './support/pg.js';
import { connect, dropPrefix, uniquePrefix } from './support/redis.js';

// Scoped invalidation across instances sharing one Redis tier and real buses: instance A
// invalidates a subject, instance B drops it, and B's next resolve of that subject asks the
// store (the tier's copy is stale too), while other subjects stay cached.

let schema: string;
let store: PgTokenStore;
let dropDatabase: () => Promise<void>;
const prefixes: string[] = [];
const instances: Instance[] = [];

beforeAll(async () => {
  const db = await freshDatabase('scopes');
  ({ schema, store } = db);
  dropDatabase = db.drop;
}, 30_000);

afterAll(async () => {
  await Promise.all(instances.map((instance) => instance.close()));
  const redis = await connect();
  for (const prefix of prefixes) await dropPrefix(redis, prefix);
  redis.disconnect();
  await dropDatabase?.();
});

async function pair(buses: readonly ('redis' | 'pg')[], label: string) {
  const prefix = uniquePrefix(`scopes-${label}`);
  prefixes.push(prefix);
  const a = await startInstance({ schema, prefix, buses });
  const b = await startInstance({ schema, prefix, buses });
  instances.push(a, b);
  return { a, b, prefix };
}

async function tokensOf(userId: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push((await store.createPat({ userId, name: `${userId} ${i}` })).token);
  }
  return tokens;
}

for (const bus of ['redis', 'pg'] as const) {
  describe(`over the ${bus} bus`, () => {
    it('a subject invalidated on A is dropped on B, whose next resolve asks the store', async () => {
      const { a, b } = await pair([bus], bus);
      const x = await tokensOf(`x-${bus}`, 2);
      const [y] = await tokensOf(`y-${bus}`, 1);
      // A fills the tier, B warms its L1 from it.
      for (const token of [...x, y!]) expect((await a.auth.resolve('pat', token)).ok).toBe(true);
      for (const token of [...x, y!]) expect((await b.auth.resolve('pat', token)).ok).toBe(true);
      const before = b.auth.stats();

      const result = await a.auth.invalidateScope({ scope: 'subject', subject: `x-${bus}` });
      expect(result).toMatchObject({ dropped: 2, tierCleared: true, busesFailed: 0 });
      await waitFor(() => b.auth.stats().invalidationsByScope.subject === 1, 10_000);

      for (const token of x) expect((await b.auth.resolve('pat', token)).ok).toBe(true);
      expect((await b.auth.resolve('pat', y!)).ok).toBe(true);
      const after = b.auth.stats();
      // Both of X's tokens went to the store (not L1, not the stale tier copy); Y stayed in L1.
      expect(after.storeQueries - before.storeQueries).toBe(2);
      expect(after.hits - before.hits).toBe(1);
      expect(a.auth.stats().invalidationsByScope).toMatchObject({ subject: 1, all: 0 });
    });

    it('token, kind and access_key scopes reach B; all drops everything but tombstones', async () => {
      const { a, b } = await pair([bus], `${bus}-more`);
      const created = await store.createPat({ userId: `t-${bus}`, name: 'one' });
      const [other] = await tokensOf(`t-${bus}`, 1);
      for (const token of [created.token, other!]) {
        expect((await b.auth.resolve('pat', token)).ok).toBe(true);
      }
      let queries = b.auth.stats().storeQueries;
      await a.auth.invalidateScope({ scope: 'token', kind: 'pat', id: created.id });
      await waitFor(() => b.auth.stats().invalidationsByScope.token === 1, 10_000);
      expect((await b.auth.resolve('pat', created.token)).ok).toBe(true);
      expect((await b.auth.resolve('pat', other!)).ok).toBe(true);
      expect(b.auth.stats().storeQueries - queries).toBe(1);

      queries = b.auth.stats().storeQueries;
      await a.auth.invalidateScope({ scope: 'kind', kind: 'pat' });
      await waitFor(() => b.auth.stats().invalidationsByScope.kind === 1, 10_000);
      expect((await b.auth.resolve('pat', other!)).ok).toBe(true);
      expect(b.auth.stats().storeQueries - queries).toBe(1);

      await a.auth.invalidateScope({ scope: 'access_key', id: 'AKIAEXAMPLE000000001' });
      await waitFor(() => b.auth.stats().invalidationsByScope.access_key === 1, 10_000);

      // A revoked token's tombstone survives `all`: no store query revives it.
      const revoked = await store.createPat({ userId: `t-${bus}`, name: 'revoked' });
      expect((await b.auth.resolve('pat', revoked.token)).ok).toBe(true);
      expect(await a.auth.revoke('pat', revoked.id)).toBe(true);
      await waitFor(async () => !(await b.auth.resolve('pat', revoked.token)).ok, 10_000);
      queries = b.auth.stats().storeQueries;
      await a.auth.invalidateScope({ scope: 'all' });
      await waitFor(() => b.auth.stats().invalidationsByScope.all === 1, 10_000);
      expect(b.auth.stats().size).toBe(0);
      expect(await b.auth.resolve('pat', revoked.token)).toEqual({ ok: false, reason: 'revoked' });
      expect((await b.auth.resolve('pat', other!)).ok).toBe(true);
      expect(b.auth.stats().storeQueries - queries).toBe(1);
    });
  });
}

describe('the shared tier alone', () => {
  it('an instance that never heard of the invalidation does not take the stale tier copy', async () => {
    const prefix = uniquePrefix('scopes-nobus');
    prefixes.push(prefix);
    // No buses at all: C can only learn of it from the tier's epochs.
    const a = await startInstance({ schema, prefix, buses: [] });
    const c = await startInstance({ schema, prefix, buses: [] });
    instances.push(a, c);
    const [token] = await tokensOf('lonely', 1);
    expect((await a.auth.resolve('pat', token!)).ok).toBe(true);
    await a.auth.invalidateScope({ scope: 'subject', subject: 'lonely' });
    const before = c.auth.stats();
    expect((await c.auth.resolve('pat', token!)).ok).toBe(true);
    const after = c.auth.stats();
    expect(after.storeQueries - before.storeQueries).toBe(1);
    expect(after.l2Hits - before.l2Hits).toBe(0);
    expect(c.tier!.stats().scopeStale).toBe(1);
    // C's load filled a fresh copy (filled after the epoch): A now reads it from the tier.
    a.auth.clear();
    const aBefore = a.auth.stats();
    expect((await a.auth.resolve('pat', token!)).ok).toBe(true);
    expect(a.auth.stats().l2Hits - aBefore.l2Hits).toBe(1);
    expect(a.auth.stats().storeQueries - aBefore.storeQueries).toBe(0);
  });

  it('a load that read the tier before the invalidation never refills L1 with it', async () => {
    const prefix = uniquePrefix('scopes-race');
    prefixes.push(prefix);
    const a = await startInstance({ schema, prefix, buses: [] });
    const b = await startInstance({ schema, prefix, buses: [], gated: true });
    instances.push(a, b);
    const [token] = await tokensOf('racer', 1);
    // The tier holds nothing yet: B's load reads the store, and is held after reading the row.
    const held = b.hold!();
    const racing = b.auth.resolve('pat', token!);
    await held.reached;
    await b.auth.invalidateScope({ scope: 'subject', subject: 'racer' });
    held.release();
    expect((await racing).ok).toBe(true);
    // The read that predates the invalidation was thrown away and the load retried.
    expect(b.auth.stats().droppedFills).toBeGreaterThanOrEqual(1);
    expect(b.auth.stats().storeQueries).toBeGreaterThanOrEqual(2);
  });
});

describe('the tier script', () => {
  const identity = (tokenId: string, subject: string): Identity => ({
    kind: 'pat',
    tokenId,
    subject,
    scopes: [],
    expiresAt: null,
  });

  it('checks epochs of every field on signed values, and keeps tombstones and later fills', async () => {
    const prefix = uniquePrefix('scopes-script');
    prefixes.push(prefix);
    const redis = await connect();
    try {
      const tier = createRedisTier({ redis, prefix, signingKey: 'k'.repeat(32) });
      const now = Date.now();
      const fill = (key: string, tokenId: string, subject: string, filledAt: number) =>
        tier.fill(
          key,
          { type: 'identity', identity: identity(tokenId, subject), filledAt },
          60_000,
          0,
        );
      await fill('pat:a', 'ta', 'alice', now - 5);
      await fill('pat:b', 'tb', 'bob', now - 5);
      await fill('daemon:c', 'tc', 'carol', now - 5);
      await fill('pat:d', 'td', 'dave', now + 5);
      await tier.invalidate('pat:e', 60_000);

      await tier.invalidateScope!({ scope: 'subject', subject: 'alice' }, now, 60_000);
      expect((await tier.get('pat:a')).value).toBeUndefined();
      expect((await tier.get('pat:b')).value?.type).toBe('identity');
      await tier.invalidateScope!({ scope: 'token', kind: 'pat', id: 'tb' }, now, 60_000);
      expect((await tier.get('pat:b')).value).toBeUndefined();
      await tier.invalidateScope!({ scope: 'kind', kind: 'daemon' }, now, 60_000);
      expect((await tier.get('daemon:c')).value).toBeUndefined();
      await tier.invalidateScope!({ scope: 'all' }, now, 60_000);
      // Filled after the epoch: still served. A revoke tombstone is never dropped by a scope.
      expect((await tier.get('pat:d')).value?.type).toBe('identity');
      expect((await tier.get('pat:e')).value).toEqual({ type: 'revoked' });
      expect(tier.stats()).toMatchObject({ scopeStale: 3, badSignatures: 0, errors: 0 });
      // An epoch older than every value's lifetime (keep) covers nothing: pruned at once.
      await tier.invalidateScope!({ scope: 'subject', subject: 'old' }, now - 120_000, 60_000);
      expect(await redis.hexists(`${prefix}{scopes}`, 'subject:old')).toBe(0);
      await tier.invalidateScope!({ scope: 'subject', subject: 'zed' }, now, 60_000);
      expect((await redis.hkeys(`${prefix}{scopes}`)).sort()).toEqual(
        ['all', 'kind:daemon', 'subject:alice', 'subject:zed', 'token:pat:tb'].sort(),
      );
      expect(await redis.pttl(`${prefix}{scopes}`)).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
  });
});
