// Two application instances over one store, joined by the Redis invalidation bus: a revoke on one
// closes the WebSocket held by the other.
import { randomUUID } from 'node:crypto';
import { createRedisBus } from '@authcache/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  closed,
  connect,
  createTestStore,
  type Harness,
  startHarness,
  type TestStore,
} from './support.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const stream = `authcache-test:ws:${randomUUID()}:invalidations`;
const quiet = { warn() {} };

let db: TestStore;
let redis: Redis;
let a: Harness;
let b: Harness;

beforeAll(async () => {
  db = await createTestStore();
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  a = await startHarness(
    db.store,
    {},
    { bus: createRedisBus({ redis, stream, logger: quiet, blockMs: 200 }) },
  );
  b = await startHarness(
    db.store,
    {},
    { bus: createRedisBus({ redis, stream, logger: quiet, blockMs: 200 }) },
  );
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await redis?.del(stream);
  await redis?.quit();
  await db?.close();
});

it("a revoke on instance A closes the token's WebSocket on instance B within 1 s", async () => {
  const { token, id } = await db.createToken('pat', 'roaming');
  const onB = await connect(b.url, { headers: { Authorization: `Bearer ${token}` } });
  if (onB.type !== 'open') throw new Error(`expected an open socket, got ${onB.rejection.status}`);
  const done = closed(onB.ws);
  const revokedAt = Date.now();
  expect(await a.auth.revoke('pat', id)).toBe(true);
  const { code, reason, at } = await done;
  expect({ code, reason }).toEqual({ code: 4401, reason: 'token_revoked' });
  expect(at - revokedAt).toBeLessThan(1_000);
  expect(b.guard.connections).toBe(0);
});
