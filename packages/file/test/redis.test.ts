// Two instances over one token file with a shared Redis tier and the Redis bus: the tier holds
// identities by id hash and nothing derived from a secret (the HMAC and the slow hash stay in
// each process), each instance verifies a secret once itself, and a revoke on one instance is
// refused on the other through the bus before that one's file store would notice.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type AuthCache, createAuthCache, hashTokenId } from '@authcache/core';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFileTokenStore, type FileTokenStore } from '../src/index.js';
import {
  countingVerifier,
  issue,
  kinds,
  memoryLogger,
  sleep,
  tempDir,
  writeRows,
} from './support.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `authcache-file-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
let redis: Redis;
let tmp: ReturnType<typeof tempDir>;
const instances: { store: FileTokenStore; auth: AuthCache; counter: { calls: number } }[] = [];

beforeAll(async () => {
  redis = new Redis(REDIS_URL);
  tmp = tempDir();
});
afterAll(async () => {
  for (const { auth, store } of instances) {
    await auth.close();
    await store.close();
  }
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  tmp.cleanup();
});

async function instance(path: string) {
  // A long statInterval: what reaches this instance quickly can only be the bus.
  const { verifier, counter } = countingVerifier();
  const store = createFileTokenStore({ path, statInterval: 60_000, secretVerifier: verifier });
  const auth = createAuthCache({
    store,
    tokenKinds: kinds,
    logger: memoryLogger(),
    tier: createRedisTier({ redis, prefix, signingKey: 'x'.repeat(32) }),
    bus: createRedisBus({ redis, stream: `${prefix}bus` }),
    tierSkewMs: 0,
  });
  store.attach(auth);
  await auth.ready();
  const made = { store, auth, counter };
  instances.push(made);
  return made;
}

it('shares identities through Redis, never a secret, its HMAC or its hash; a revoke crosses the bus', async () => {
  const path = join(tmp.dir, 'tokens.json');
  const token = await issue({ subject: 'svc-a' });
  writeRows(path, [token.row]);
  const a = await instance(path);
  await sleep(20); // b starts later than a's fill: b trusts it
  const b = await instance(path);

  expect((await a.auth.resolve('pat', token.token)).ok).toBe(true);
  await sleep(50); // the tier fill is off the request path
  expect((await b.auth.resolve('pat', token.token)).ok).toBe(true);
  expect(b.auth.stats().l2Hits).toBe(1);
  expect(b.auth.stats().storeQueries).toBe(0);
  // Each instance checks the secret itself: the verdict never travels.
  expect([a.counter.calls, b.counter.calls]).toEqual([1, 1]);

  const keys = await redis.keys(`${prefix}*`);
  const valueKeys = keys.filter((key) => key.endsWith('}'));
  expect(valueKeys).toEqual([`${prefix}{pat:${hashTokenId(token.id)}}`]);
  // Every key and its serialized value (DUMP: whatever its type), as bytes.
  const dumps = await Promise.all(
    keys.map(async (key) => key + ((await redis.dumpBuffer(key))?.toString('latin1') ?? '')),
  );
  const dump = dumps.join('\n');
  expect(dump).toContain('svc-a');
  expect(dump).not.toContain(token.secret);
  expect(dump).not.toContain(token.row.secretHash.split('$').at(-1));
  expect(dump).not.toContain('$scrypt$');

  // Revoked on a (which writes the file): b refuses it through the bus, not its own stat.
  expect(await a.auth.revoke('pat', token.id)).toBe(true);
  let answer = await b.auth.resolve('pat', token.token);
  for (let i = 0; i < 50 && answer.ok; i++) {
    await sleep(100);
    answer = await b.auth.resolve('pat', token.token);
  }
  expect(answer).toEqual({ ok: false, reason: 'revoked' });
  expect(b.counter.calls).toBe(1);
});
