import { describe, expect, it } from 'vitest';
import { createAuthCache, createTokenFormat, hashTokenId, type TokenKinds } from '../src/index.js';
import { createSplitStore } from './support/split-store.js';

const kinds: TokenKinds = { pat: { prefix: 'mul_' }, svc: { prefix: 'svc_', split: true } };
const format = createTokenFormat(kinds);
const silent = { warn() {} };

function setup(
  options: Parameters<typeof createAuthCache>[0] extends infer O ? Partial<O> : never = {},
) {
  let now = 1_000_000;
  const clock = () => now;
  const split = createSplitStore(undefined, clock);
  const auth = createAuthCache({
    store: split.store,
    tokenKinds: kinds,
    clock,
    logger: silent,
    ttlJitter: 0,
    ...options,
  });
  return {
    ...split,
    auth,
    advance(ms: number) {
      now += ms;
    },
    async issue(extra = {}) {
      const token = format.generateSplit('svc');
      await split.add('svc', token.id, token.secret, extra);
      return token;
    },
  };
}

describe('split token format', () => {
  it('generates <prefix><id>.<secret> with both parts checksummed, and parses them back', () => {
    const { token, id, secret } = format.generateSplit('svc');
    expect(token).toMatch(/^svc_[0-9A-Za-z]{22}\.[0-9A-Za-z]{38}$/);
    expect(token).toBe(`svc_${id}.${secret}`);
    expect(format.parse(token)).toEqual({ ok: true, kind: 'svc', legacy: false, id, secret });
    expect(format.generate('svc')).toMatch(/^svc_[0-9A-Za-z]{22}\.[0-9A-Za-z]{38}$/);
    expect(format.isSplit('svc')).toBe(true);
    expect(format.isSplit('pat')).toBe(false);
    expect(() => format.generateSplit('pat')).toThrow(/not a split token kind/);
  });

  it('refuses a typo in either part, a missing dot, other lengths, and plain tokens of a split kind', () => {
    const { id, secret } = format.generateSplit('svc');
    const flip = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === 'a' ? 'b' : 'a') + s.slice(i + 1);
    for (const bad of [
      `svc_${flip(id, 3)}.${secret}`,
      `svc_${id}.${flip(secret, 5)}`,
      `svc_${id}${secret}`,
      `svc_${id}-${secret}`,
      `svc_${id}.${secret}x`,
      `svc_${id}.${secret.slice(1)}`,
      `svc_${id.slice(0, 30)}${secret.slice(0, 6)}`,
    ]) {
      expect(format.parse(bad), bad).toEqual({ ok: false });
    }
  });

  it('checks the lengths at creation', () => {
    expect(() => createTokenFormat({ s: { prefix: 's_', split: { idLength: 4 } } })).toThrow(
      /idLength/,
    );
    expect(() => createTokenFormat({ s: { prefix: 's_', split: { secretLength: 8 } } })).toThrow(
      /secretLength/,
    );
    const custom = createTokenFormat({
      s: { prefix: 's_', split: { idLength: 8, secretLength: 20 } },
    });
    expect(custom.generate('s')).toMatch(/^s_[0-9A-Za-z]{14}\.[0-9A-Za-z]{26}$/);
  });

  it('a split kind needs a store that verifies secrets, and resolveHash refuses it', async () => {
    const { store } = createSplitStore();
    const { verifySecret: _, ...withoutVerify } = store;
    expect(() => createAuthCache({ store: withoutVerify, tokenKinds: kinds })).toThrow(
      /svc need a store with verifySecret/,
    );
    const { auth, issue } = setup();
    const { id } = await issue();
    // An identity by id alone would skip the secret check.
    expect(await auth.resolveHash('svc', hashTokenId(id))).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });
});

describe('the verified-secret cache', () => {
  it('10 000 requests with one id and secret cost one slow verification per TTL window', async () => {
    const t = setup({ ttl: 60_000 });
    const { token } = await t.issue();
    for (let i = 0; i < 10_000; i++) {
      const result = t.auth.peek('svc', token) ?? (await t.auth.resolve('svc', token));
      expect(result.ok).toBe(true);
    }
    expect(t.calls.verify).toBe(1);
    expect(t.calls.find).toBe(1);
    expect(t.auth.stats().secretHits).toBe(9_999);
    t.advance(60_001); // the next window: one more load, one more slow verification
    for (let i = 0; i < 1_000; i++) expect((await t.auth.resolve('svc', token)).ok).toBe(true);
    expect(t.calls.verify).toBe(2);
    expect(t.auth.stats().secretVerifications).toBe(2);
  });

  it('1 000 concurrent cold requests share one load and one slow verification', async () => {
    const t = setup();
    const { token } = await t.issue();
    const results = await Promise.all(
      Array.from({ length: 1_000 }, () => t.auth.resolve('svc', token)),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(t.calls.find).toBe(1);
    expect(t.calls.verify).toBe(1);
  });

  it('a wrong secret is invalid after one slow verification, remembered per guess; the right one right after passes', async () => {
    const t = setup({ negativeTtl: 5_000 });
    const { id, token } = await t.issue();
    const wrong = `svc_${id}.${format.generateSplit('svc').secret}`;
    for (let i = 0; i < 100; i++) {
      expect(await t.auth.resolve('svc', wrong)).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(t.calls.verify).toBe(1);
    expect(t.auth.stats().secretMismatches).toBe(1);
    expect((await t.auth.resolve('svc', token)).ok).toBe(true);
    expect(t.calls.verify).toBe(2);
    // A wrong secret never became a success, and a verified one does not vouch for a guess.
    expect(t.auth.peek('svc', wrong)).toEqual({ ok: false, reason: 'invalid' });
    const other = `svc_${id}.${format.generateSplit('svc').secret}`;
    expect(await t.auth.resolve('svc', other)).toEqual({ ok: false, reason: 'invalid' });
    expect(t.calls.verify).toBe(3);
    // Once the window is over, a guess costs a slow hash again.
    t.advance(5_001);
    await t.auth.resolve('svc', wrong);
    expect(t.calls.verify).toBe(4);
  });

  it('a split token peeked cold, then a plain token resolved, each takes its own path', async () => {
    const t = setup();
    const { token } = await t.issue();
    expect(t.auth.peek('svc', token)).toBeUndefined(); // cold: needs a load and a verification
    expect(await t.auth.resolve('pat', format.generate('pat'))).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(t.calls.verify).toBe(0);
    expect((await t.auth.resolve('svc', token)).ok).toBe(true);
  });

  it('records a use only once the secret passed, once per touch interval', async () => {
    const t = setup({ touchInterval: 60_000 });
    const { id, token } = await t.issue();
    const wrong = `svc_${id}.${format.generateSplit('svc').secret}`;
    for (let i = 0; i < 3; i++) expect((await t.auth.resolve('svc', wrong)).ok).toBe(false);
    await t.auth.flushTouches();
    expect(t.calls.touched).toEqual([]); // found the identity, failed the secret: not a use
    for (let i = 0; i < 100; i++) expect((await t.auth.resolve('svc', token)).ok).toBe(true);
    await t.auth.flushTouches();
    expect(t.calls.touched).toEqual([id]);
    t.advance(60_001);
    expect((await t.auth.resolve('svc', wrong)).ok).toBe(false); // a new window, a wrong secret
    await t.auth.flushTouches();
    expect(t.calls.touched).toEqual([id]);
    expect((await t.auth.resolve('svc', token)).ok).toBe(true);
    await t.auth.flushTouches();
    expect(t.calls.touched).toEqual([id, id]);
  });

  it('an unknown id costs no slow hash at all', async () => {
    const t = setup();
    const stranger = format.generate('svc');
    expect(await t.auth.resolve('svc', stranger)).toEqual({ ok: false, reason: 'invalid' });
    expect(await t.auth.resolve('svc', stranger)).toEqual({ ok: false, reason: 'invalid' });
    expect(t.calls.verify).toBe(0);
    expect(t.calls.find).toBe(1);
  });

  it('a changed secret, a revoke and an expiry are seen as for other kinds', async () => {
    const t = setup();
    const first = await t.issue({ expiresAt: 1_000_000 + 30_000 });
    expect((await t.auth.resolve('svc', first.token)).ok).toBe(true);
    // The secret is changed in the store and the change announced: the old secret stops at once.
    const next = format.generateSplit('svc').secret;
    await t.setSecret('svc', first.id, next);
    await t.auth.invalidate('svc', hashTokenId(first.id));
    expect(await t.auth.resolve('svc', first.token)).toEqual({ ok: false, reason: 'invalid' });
    expect((await t.auth.resolve('svc', `svc_${first.id}.${next}`)).ok).toBe(true);
    // Expiry clamp: the cached identity answers `expired` from its expiry on, without I/O.
    t.advance(30_000);
    expect(t.auth.peek('svc', `svc_${first.id}.${next}`)).toEqual({ ok: false, reason: 'expired' });

    const second = await t.issue();
    expect((await t.auth.resolve('svc', second.token)).ok).toBe(true);
    expect(await t.auth.revoke('svc', second.id)).toBe(true);
    expect(await t.auth.resolve('svc', second.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(t.auth.stats().tombstones).toBe(1);
  });

  it('a verification that raced a change is thrown away and redone against the new row', async () => {
    const t = setup();
    const { id, token } = await t.issue();
    const release = t.hold();
    const pending = t.auth.resolve('svc', token);
    await new Promise((r) => setTimeout(r, 20));
    await t.setSecret('svc', id, format.generateSplit('svc').secret);
    await t.auth.invalidate('svc', hashTokenId(id));
    release();
    expect(await pending).toEqual({ ok: false, reason: 'invalid' });
    expect(t.calls.verify).toBe(2);
  });

  it('bounds slow verifications per id and in all; overflow is unavailable, never a pass or 401', async () => {
    const t = setup({
      secretVerification: {
        maxConcurrent: 2,
        maxConcurrentPerId: 1,
        maxWaitingPerId: 3,
        maxWaiting: 100,
      },
    });
    const a = await t.issue();
    const b = await t.issue();
    const c = await t.issue();
    const release = t.hold();
    const guesses = (id: string, n: number) =>
      Array.from({ length: n }, () =>
        t.auth.resolve('svc', `svc_${id}.${format.generateSplit('svc').secret}`),
      );
    const sprayA = guesses(a.id, 10);
    const others = [t.auth.resolve('svc', b.token), t.auth.resolve('svc', c.token)];
    await new Promise((r) => setTimeout(r, 50));
    // One per id, two in all: a's first guess and b's check run, c waits for a global slot.
    expect(t.calls.running).toBe(2);
    release();
    const sprayed = await Promise.all(sprayA);
    // 1 running + 3 waiting for id a; the other 6 guesses were told to come back later.
    expect(sprayed.filter((r) => !r.ok && r.reason === 'unavailable')).toHaveLength(6);
    expect(sprayed.filter((r) => !r.ok && r.reason === 'invalid')).toHaveLength(4);
    expect((await Promise.all(others)).every((r) => r.ok)).toBe(true);
    expect(t.calls.maxRunning).toBe(2);
    expect(t.auth.stats().secretBusy).toBe(6);
  });

  it('a store that fails while verifying answers unavailable and caches nothing', async () => {
    const t = setup();
    const { token } = await t.issue();
    await t.auth.resolve('svc', format.generate('pat')); // another kind, untouched
    t.fail(new Error('disk gone'));
    expect(await t.auth.resolve('svc', token)).toEqual({ ok: false, reason: 'unavailable' });
    t.fail(undefined);
    expect((await t.auth.resolve('svc', token)).ok).toBe(true);
  });
});
