import type { PgTokenStore } from '@authcache/pg';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, type InstanceOptions, startInstance } from './support/instances.js';
import { freshDatabase, waitFor } from './support/pg.js';
import { connect, keysUnder, redisTarget, startProxy, uniquePrefix } from './support/redis.js';

// A revoke or invalidate made while Redis is unreachable must not come back: not on the
// revoking instance (after a spray of unknown tokens, after clear()), not on an instance started
// afterwards, and the stale Redis value is cleaned once Redis is reachable again. Instance A
// reaches the shared Redis through a TCP proxy this file cuts; the shared server is untouched.

const prefix = uniquePrefix('hardening');
let schema: string;
let admin: pg.Pool;
let store: PgTokenStore;
let dropDatabase: () => Promise<void>;
let redis: Redis;
let proxy: Awaited<ReturnType<typeof startProxy>>;
const running: Instance[] = [];

beforeAll(async () => {
  const db = await freshDatabase('hardening');
  ({ schema, admin, store } = db);
  dropDatabase = db.drop;
  redis = await connect();
  proxy = await startProxy(redisTarget());
});

afterEach(async () => {
  proxy.resume();
  await Promise.all(running.splice(0).map((instance) => instance.close()));
});

afterAll(async () => {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  redis.disconnect();
  await proxy?.close();
  await dropDatabase?.();
});

async function instance(options: Partial<InstanceOptions> = {}): Promise<Instance> {
  const started = await startInstance({ schema, prefix, ...options });
  running.push(started);
  return started;
}

const valueKey = (hash: string) => `${prefix}{pat:${hash}}`;
const stored = async (hash: string) => {
  const raw = await redis.get(valueKey(hash));
  return raw === null ? null : (JSON.parse(raw) as { t: string });
};

/** 20 000 well-formed unknown tokens, 200 at a time. */
async function spray(auth: Instance['auth']): Promise<void> {
  const { generateToken } = await import('@authcache/core');
  for (let i = 0; i < 100; i++) {
    await Promise.all(Array.from({ length: 200 }, () => auth.resolve('pat', generateToken('pat'))));
  }
}

/** A: reaches Redis (tier and bus) only through the proxy; its breaker recovers quickly. */
const viaProxy = () =>
  instance({ redisUrl: proxy.url, breaker: { failureThreshold: 3, cooldownMs: 100 } });

describe('an invalidation made while Redis is unreachable', () => {
  it('revoke(): never comes back on this instance, on a later one, and Redis gets cleaned', async () => {
    const a = await viaProxy();
    const { token, id } = await store.createPat({ userId: 'u1', name: 'hardening revoke' });
    const hash = store.hashToken(token);
    expect((await a.auth.resolve('pat', token)).ok).toBe(true);
    await waitFor(async () => (await stored(hash))?.t === 'identity');

    proxy.cut();
    expect(await a.auth.revoke('pat', id)).toBe(true);
    expect(await a.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    expect(a.auth.stats()).toMatchObject({ pendingTier: 1, pendingPublish: 1 });
    // Redis could not be told: it still holds the identity.
    expect((await stored(hash))?.t).toBe('identity');

    // An instance started after the revoke, sharing Redis, must not accept the stale value.
    const b = await instance();
    const fromB = await b.auth.resolve('pat', token);
    expect(fromB.ok).toBe(false);
    expect(b.auth.stats().tierUntrusted).toBe(1);

    // The tombstone survives a spray of unknown tokens and clear().
    await spray(a.auth);
    a.auth.clear();
    expect(await a.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });

    proxy.resume();
    // Right after Redis is back, before or after the retry ran: still revoked.
    expect(await a.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    // The background retry writes the tombstone, and the publish reaches B.
    await waitFor(async () => (await stored(hash))?.t === 'revoked', 15_000);
    await waitFor(() => a.auth.stats().pendingTier === 0 && a.auth.stats().pendingPublish === 0);
    expect(a.auth.stats().tierRetries).toBeGreaterThan(0);
    await waitFor(
      async () =>
        (await b.auth.resolve('pat', token)).ok === false && b.auth.stats().invalidations > 0,
      15_000,
    );
    expect(await b.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    a.auth.clear();
    expect(await a.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
    // A third instance, started now, reads the tombstone.
    const c = await instance({ buses: [] });
    expect(await c.auth.resolve('pat', token)).toEqual({ ok: false, reason: 'revoked' });
  }, 60_000);

  it('invalidate() after a shortened expires_at: same guarantees', async () => {
    const a = await viaProxy();
    const { token, id } = await store.createPat({
      userId: 'u1',
      name: 'hardening invalidate',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const hash = store.hashToken(token);
    expect((await a.auth.resolve('pat', token)).ok).toBe(true);
    await waitFor(async () => (await stored(hash))?.t === 'identity');

    proxy.cut();
    await admin.query(
      `UPDATE "${schema}".personal_access_token SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    await a.auth.invalidate('pat', hash);
    expect((await a.auth.resolve('pat', token)).ok).toBe(false);
    expect(a.auth.stats().pendingTier).toBe(1);
    expect((await stored(hash))?.t).toBe('identity');

    const b = await instance();
    expect((await b.auth.resolve('pat', token)).ok).toBe(false);

    await spray(a.auth);
    a.auth.clear();
    proxy.resume();
    // While the retry is pending, A skips the tier: the stale value is never read back.
    for (let i = 0; i < 5; i++) {
      a.auth.clear();
      expect((await a.auth.resolve('pat', token)).ok).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitFor(async () => (await stored(hash)) === null, 15_000);
    await waitFor(() => a.auth.stats().pendingTier === 0);
    a.auth.clear();
    expect((await a.auth.resolve('pat', token)).ok).toBe(false);
    const c = await instance({ buses: [] });
    expect((await c.auth.resolve('pat', token)).ok).toBe(false);
  }, 60_000);
});

describe('a signed tier', () => {
  const signingKey = 'k'.repeat(32);

  it('serves its own signed values, and treats forged, unsigned or moved values as misses', async () => {
    const a = await instance({ buses: [], signingKey });
    const b = await instance({ buses: [], signingKey });
    const one = await store.createPat({ userId: 'u1', name: 'signed one', scopes: ['read'] });
    const two = await store.createPat({ userId: 'u2', name: 'signed two', scopes: ['read'] });
    const h1 = store.hashToken(one.token);
    const h2 = store.hashToken(two.token);
    expect((await a.auth.resolve('pat', one.token)).ok).toBe(true);
    expect((await a.auth.resolve('pat', two.token)).ok).toBe(true);
    await waitFor(async () => (await redis.exists(valueKey(h1), valueKey(h2))) === 2);
    // B reads A's signed value.
    expect((await b.auth.resolve('pat', one.token)).ok).toBe(true);
    expect(b.auth.stats()).toMatchObject({ l2Hits: 1, storeQueries: 0 });

    // Forged: an unsigned identity with more scopes; moved: token one's value under token two.
    const raw1 = (await redis.get(valueKey(h1)))!;
    const json1 = raw1.slice(0, raw1.lastIndexOf('.'));
    const forged = JSON.parse(json1);
    forged.identity.scopes = ['admin'];
    await redis.set(valueKey(h1), JSON.stringify(forged), 'PX', 60_000);
    await redis.set(valueKey(h2), raw1, 'PX', 60_000);
    const c = await instance({ buses: [], signingKey });
    const r1 = await c.auth.resolve('pat', one.token);
    const r2 = await c.auth.resolve('pat', two.token);
    expect(r1.ok && r1.identity.scopes).toEqual(['read']);
    expect(r2.ok && r2.identity.subject).toBe('u2');
    expect(c.auth.stats()).toMatchObject({ l2Hits: 0, storeQueries: 2 });
    expect(c.tier!.stats().badSignatures).toBe(2);
  });

  it('refuses a short key', async () => {
    const { createRedisTier } = await import('@authcache/redis');
    expect(() => createRedisTier({ redis, signingKey: 'short' })).toThrow(/32 bytes/);
  });
});
