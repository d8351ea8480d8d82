import { describe, expect, it } from 'vitest';
import {
  createAuthCache,
  generateToken,
  type Identity,
  type InvalidationBus,
  type InvalidationHandlers,
  type Logger,
  parseInvalidationScope,
  type ScopeInvalidationMessage,
  type SharedTier,
  type SharedValue,
} from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

const quiet: Logger = { warn: () => {} };

/** A shared tier in memory that knows nothing of scopes (a custom tier of an older design). */
function plainTier() {
  const values = new Map<string, SharedValue>();
  const tier: SharedTier = {
    async get(key) {
      return { value: values.get(key), generation: 0 };
    },
    async fill(key, value) {
      if (!values.has(key)) values.set(key, value);
    },
    async invalidate(key) {
      values.delete(key);
    },
  };
  return { tier, values };
}

function setup(options: { tier?: SharedTier; bus?: InvalidationBus } = {}) {
  const clock = fakeClock();
  const mem = createMemoryStore(clock);
  const auth = createAuthCache({
    store: mem.store,
    clock,
    logger: quiet,
    tierSkewMs: 0,
    ...options,
  });
  const add = (subject: string, kind = 'pat') => {
    const token = generateToken(kind);
    const identity: Identity = mem.add(kind, token, { subject });
    return { token, identity };
  };
  return { clock, mem, auth, add };
}

describe('parseInvalidationScope', () => {
  it('names the field at fault and never echoes values', () => {
    expect(parseInvalidationScope(null)).toMatchObject({ ok: false, field: 'scope' });
    expect(parseInvalidationScope({ scope: 'nope' })).toMatchObject({ ok: false, field: 'scope' });
    expect(parseInvalidationScope({ scope: 'token', id: 'x' })).toMatchObject({ field: 'kind' });
    expect(parseInvalidationScope({ scope: 'token', kind: 'a:b', id: 'x' })).toMatchObject({
      field: 'kind',
    });
    expect(parseInvalidationScope({ scope: 'token', kind: 'pat' })).toMatchObject({ field: 'id' });
    const secret = `bad\u0000${'s'.repeat(10)}`;
    const bad = parseInvalidationScope({ scope: 'subject', subject: secret });
    expect(bad).toMatchObject({ ok: false, field: 'subject' });
    expect(JSON.stringify(bad)).not.toContain('ssssssssss');
    expect(parseInvalidationScope({ scope: 'subject', subject: 'x'.repeat(257) }).ok).toBe(false);
    expect(parseInvalidationScope({ scope: 'access_key', id: 'AKIA1', extra: 1 })).toEqual({
      ok: true,
      scope: { scope: 'access_key', id: 'AKIA1' },
    });
  });
});

describe('auth.invalidateScope', () => {
  it('drops only what the scope covers, and the next resolve of it asks the store', async () => {
    const { mem, auth, add } = setup();
    const alice = [add('alice'), add('alice', 'daemon')];
    const bob = add('bob');
    for (const { token, identity } of [...alice, bob]) {
      expect((await auth.resolve(identity.kind, token)).ok).toBe(true);
    }
    const found = mem.calls.find;
    const result = await auth.invalidateScope({ scope: 'subject', subject: 'alice' });
    expect(result).toMatchObject({ dropped: 2, tierCleared: true, busesFailed: 0 });
    for (const { token, identity } of [...alice, bob]) {
      expect((await auth.resolve(identity.kind, token)).ok).toBe(true);
    }
    expect(mem.calls.find - found).toBe(2);
    expect(auth.stats().invalidationsByScope).toEqual({
      token: 0,
      subject: 1,
      kind: 0,
      access_key: 0,
      all: 0,
    });
    // Scoped invalidations have their own counter; `invalidations` counts per-key ones per kind.
    expect(auth.stats().invalidations).toBe(0);
    // stats() hands out a copy.
    auth.stats().invalidationsByScope.subject = 99;
    expect(auth.stats().invalidationsByScope.subject).toBe(1);
  });

  it('kind drops that kind’s unknown-token entries too; all keeps tombstones', async () => {
    const { mem, auth, add } = setup();
    const unknown = generateToken('pat');
    expect(await auth.resolve('pat', unknown)).toEqual({ ok: false, reason: 'invalid' });
    const revoked = add('carol');
    expect((await auth.resolve('pat', revoked.token)).ok).toBe(true);
    await auth.revoke('pat', revoked.identity.tokenId);
    await auth.invalidateScope({ scope: 'kind', kind: 'daemon' });
    expect(auth.stats().negativeSize).toBe(1);
    await auth.invalidateScope({ scope: 'kind', kind: 'pat' });
    expect(auth.stats().negativeSize).toBe(0);
    const found = mem.calls.find;
    await auth.invalidateScope({ scope: 'all' });
    expect(await auth.resolve('pat', revoked.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(mem.calls.find).toBe(found);
    expect(auth.stats().tombstones).toBe(1);
  });

  it('throws a TypeError naming the field for a malformed scope', async () => {
    const { auth } = setup();
    await expect(auth.invalidateScope({ scope: 'token', kind: 'pat' } as never)).rejects.toThrow(
      /"id" is required/,
    );
  });

  it('a tier without scope support: this instance still ignores the stale tier copy', async () => {
    const { tier, values } = plainTier();
    const { mem, auth, add, clock } = setup({ tier });
    const dave = add('dave');
    expect((await auth.resolve('pat', dave.token)).ok).toBe(true);
    expect(values.size).toBe(1);
    clock.advance(10);
    const result = await auth.invalidateScope({ scope: 'subject', subject: 'dave' });
    expect(result.tierCleared).toBe(false);
    const found = mem.calls.find;
    expect((await auth.resolve('pat', dave.token)).ok).toBe(true);
    // The tier still holds the old copy, filled before the epoch: not taken, the store answered.
    expect(mem.calls.find - found).toBe(1);
    expect(auth.stats().l2Hits).toBe(0);
  });

  it('publishes on buses that carry scopes and counts the others as failed; applies what it hears', async () => {
    let handlers: InvalidationHandlers | undefined;
    const published: ScopeInvalidationMessage[] = [];
    const bus: InvalidationBus = {
      async publish() {},
      async publishScope(message) {
        published.push(message);
      },
      async start(h) {
        handlers = h;
      },
      async close() {},
    };
    const legacy: InvalidationBus = { async publish() {}, async start() {}, async close() {} };
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet, bus: [bus, legacy] });
    await auth.ready();
    const result = await auth.invalidateScope({ scope: 'access_key', id: 'AKIA1' });
    expect(result.busesFailed).toBe(1);
    expect(published).toEqual([
      { scope: { scope: 'access_key', id: 'AKIA1' }, epoch: result.epoch },
    ]);
    const token = generateToken('pat');
    mem.add('pat', token, { subject: 'erin' });
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    handlers!.onScopeInvalidate!({ scope: { scope: 'subject', subject: 'erin' }, epoch: clock() });
    // Malformed remote messages are ignored.
    handlers!.onScopeInvalidate!({ scope: { scope: 'subject' } as never, epoch: clock() });
    await new Promise((resolve) => setImmediate(resolve));
    expect(auth.stats().size).toBe(0);
    expect(auth.stats().invalidationsByScope).toMatchObject({ access_key: 1, subject: 1 });
  });
});
