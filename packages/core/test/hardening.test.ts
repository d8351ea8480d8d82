import { describe, expect, it } from 'vitest';
import {
  createAuthCache,
  createAuthenticator,
  createTokenFormat,
  generateToken,
  hashToken,
  type Identity,
  type Logger,
  type SharedTier,
  type TokenStore,
} from '../src/index.js';
import { createMemoryStore, fakeClock } from './support/memory-store.js';

const quiet: Logger = { warn: () => {} };

describe('store deadline (storeTimeoutMs)', () => {
  it('answers unavailable when the store hangs, and never caches the late answer', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet, storeTimeoutMs: 50 });
    const token = generateToken('pat');
    mem.add('pat', token);
    const release = mem.hold();
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'unavailable' });
    expect(auth.stats()).toMatchObject({ storeTimeouts: 1, storeErrors: 1, size: 0 });
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(auth.stats().size).toBe(0);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(2);
  });

  it('validates storeTimeoutMs and tierSkewMs', () => {
    const mem = createMemoryStore();
    expect(() => createAuthCache({ store: mem.store, storeTimeoutMs: 0 })).toThrow(
      /storeTimeoutMs/,
    );
    expect(() => createAuthCache({ store: mem.store, storeTimeoutMs: Number.NaN })).toThrow(
      /storeTimeoutMs/,
    );
    expect(() => createAuthCache({ store: mem.store, tierSkewMs: -1 })).toThrow(/tierSkewMs/);
  });
});

describe('the TTL window starts when the lookup starts', () => {
  it('a store that takes 20 s to answer leaves an entry for 40 s of a 60 s ttl', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const slow: TokenStore = {
      ...mem.store,
      async findByHash(kind, tokenHash) {
        const answer = await mem.store.findByHash(kind, tokenHash);
        clock.advance(20_000);
        return answer;
      },
    };
    const auth = createAuthCache({ store: slow, clock, logger: quiet, ttl: 60_000, ttlJitter: 0 });
    const token = generateToken('pat');
    mem.add('pat', token);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    clock.advance(39_999);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(1);
    clock.advance(1);
    // 60 s after the lookup started: asked again.
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(mem.calls.find).toBe(2);
  });
});

describe('identities handed out are frozen', () => {
  it('resolve(): the cached identity, its scopes and attributes cannot be changed', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet });
    const token = generateToken('pat');
    mem.add('pat', token, { scopes: ['read'], attributes: { nested: { roles: ['a'] } } });
    const first = await auth.resolve('pat', token);
    if (!first.ok) throw new Error('expected ok');
    expect(() => (first.identity.scopes as string[]).push('admin')).toThrow(TypeError);
    expect(() => {
      (first.identity as { subject: string }).subject = 'root';
    }).toThrow(TypeError);
    const nested = first.identity.attributes?.nested as { roles: string[] };
    expect(() => nested.roles.push('admin')).toThrow(TypeError);
    expect(() => {
      (first as { identity: Identity }).identity = { ...first.identity, subject: 'root' };
    }).toThrow(TypeError);
    const again = await auth.resolve('pat', token);
    if (!again.ok) throw new Error('expected ok');
    expect(again.identity.scopes).toEqual(['read']);
    expect(again.identity.subject).toBe('user-1');
    expect(mem.calls.find).toBe(1);
  });

  it('createAuthenticator: pushing to req.auth.scopes throws and never grants a later request', async () => {
    const mem = createMemoryStore();
    const auth = createAuthCache({ store: mem.store, logger: quiet });
    const token = generateToken('pat');
    mem.add('pat', token, { scopes: ['read'] });
    const authenticate = createAuthenticator({ auth, kinds: ['pat'] });
    const admin = createAuthenticator({ auth, kinds: ['pat'], scopes: ['admin'] });
    const first = await authenticate({ authorization: `Bearer ${token}` });
    if (!first.ok || !first.auth) throw new Error('expected ok');
    expect(first.auth.path).toBe('pat');
    expect(() => (first.auth!.scopes as string[]).push('admin')).toThrow(TypeError);
    const second = await admin({ authorization: `Bearer ${token}` });
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.error.status).toBe(403);
  });
});

describe('misbehaving stores and tiers', () => {
  it('a store whose hashToken is a method using `this` works', async () => {
    class PepperedStore {
      readonly pepper = 'p';
      readonly mem = createMemoryStore();
      hashToken(token: string): string {
        return hashToken(this.pepper + token);
      }
      findByHash(kind: string, tokenHash: string) {
        return this.mem.store.findByHash(kind, tokenHash);
      }
      touch() {
        return Promise.resolve();
      }
      revoke() {
        return Promise.resolve([]);
      }
    }
    const store = new PepperedStore();
    const auth = createAuthCache({ store, logger: quiet });
    const token = generateToken('pat');
    expect(auth.hashToken(token)).toBe(hashToken(`p${token}`));
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'invalid' });
  });

  it('a tier that throws synchronously from every method is a miss, never a rejection', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const boom = () => {
      throw new Error('sync boom');
    };
    const tier: SharedTier = { get: boom, fill: boom, invalidate: boom, claimTouch: boom };
    const auth = createAuthCache({
      store: mem.store,
      clock,
      logger: quiet,
      tier,
      touchFlushDelay: 1,
    });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    const result = await auth.resolve('pat', token);
    expect(result.ok).toBe(true);
    await auth.invalidate('pat', auth.hashToken(token));
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    expect(await auth.revoke('pat', identity.tokenId)).toBe(true);
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(auth.stats().l2Errors).toBeGreaterThanOrEqual(3);
    expect(auth.stats().pendingTier).toBe(1);
    await auth.close();
  });

  it('rejects kind names with ":" at creation, and a tokenHash stays exact', async () => {
    expect(() => createTokenFormat({ 'a:b': { prefix: 'ab_' } })).toThrow(TypeError);
    expect(() => createTokenFormat({ 'a:b': { prefix: 'ab_' } })).toThrow(/kind name/);
    const mem = createMemoryStore();
    expect(() =>
      createAuthCache({ store: mem.store, tokenKinds: { 'x:y': { prefix: 'xy_' } } }),
    ).toThrow(TypeError);
    const auth = createAuthCache({ store: mem.store, logger: quiet });
    expect(await auth.resolveHash('a:b', 'c')).toEqual({ ok: false, reason: 'invalid' });
    await expect(auth.invalidate('a:b', 'c')).rejects.toThrow(TypeError);
    // A hash containing ':' comes back exactly as asked.
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    const tokenHash = 'odd:hash:value';
    const mem2 = createMemoryStore();
    const store: TokenStore = {
      ...mem2.store,
      findByHash: async (_kind, hash) => (hash === tokenHash ? identity : null),
    };
    const other = createAuthCache({ store, logger: quiet });
    expect(await other.resolveHash('pat', tokenHash)).toMatchObject({ ok: true, tokenHash });
    expect(await other.resolveHash('pat', tokenHash)).toMatchObject({ ok: true, tokenHash });
  });
});

describe('tombstones', () => {
  it('survive a spray of 20 000 unknown tokens and clear()', async () => {
    const clock = fakeClock();
    const mem = createMemoryStore(clock);
    const auth = createAuthCache({ store: mem.store, clock, logger: quiet });
    const token = generateToken('pat');
    const identity = mem.add('pat', token);
    expect((await auth.resolve('pat', token)).ok).toBe(true);
    await auth.revoke('pat', identity.tokenId);
    for (let i = 0; i < 20_000; i++) await auth.resolve('pat', generateToken('pat'));
    auth.clear();
    const finds = mem.calls.find;
    expect(await auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(mem.calls.find).toBe(finds);
    expect(auth.stats().tombstones).toBe(1);
  });
});
