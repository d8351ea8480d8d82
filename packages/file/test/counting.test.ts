// How many slow verifications requests cost, over real HTTP against a file store.
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { countingVerifier, issue, startServer, tempDir, writeRows } from './support.js';

let tmp: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  tmp = tempDir();
  path = join(tmp.dir, 'tokens.json');
});
afterEach(() => tmp.cleanup());

it('10 000 requests with one id and secret: exactly one slow verification per TTL window', async () => {
  const a = await issue();
  writeRows(path, [a.row]);
  const { verifier, counter } = countingVerifier();
  // A TTL window longer than the run; the next window is covered at resolver level (core tests).
  const server = await startServer({ path, secretVerifier: verifier, ttl: 10 * 60_000 });
  expect((await server.get(a.token)).status).toBe(200);
  for (let batch = 0; batch < 99; batch++) {
    const statuses = await Promise.all(Array.from({ length: 101 }, () => server.get(a.token)));
    expect(statuses.every((r) => r.status === 200)).toBe(true);
  }
  expect(counter.calls).toBe(1);
  // 1 + 99 × 101 = 10 000 requests; every one after the first is a hit of the verified cache.
  expect(server.auth.stats().secretHits).toBe(9_999);
  expect(server.auth.stats().secretVerifications).toBe(1);
  await server.close();
}, 120_000);

it('1 000 concurrent cold requests: one slow verification', async () => {
  const a = await issue();
  writeRows(path, [a.row]);
  const { verifier, counter } = countingVerifier();
  const server = await startServer({ path, secretVerifier: verifier });
  const statuses = await Promise.all(Array.from({ length: 1_000 }, () => server.get(a.token)));
  expect(statuses.filter((r) => r.status === 200)).toHaveLength(1_000);
  expect(counter.calls).toBe(1);
  await server.close();
}, 120_000);

it('a wrong secret is 401 after one slow verification; the right one right after is 200', async () => {
  const a = await issue();
  writeRows(path, [a.row]);
  const { verifier, counter } = countingVerifier();
  const server = await startServer({ path, secretVerifier: verifier });
  const wrong = `mul_${a.id}.${(await issue()).secret}`;
  const denied = await server.get(wrong);
  expect(denied.status).toBe(401);
  expect(counter.calls).toBe(1);
  // The same guess again costs nothing more while remembered.
  for (let i = 0; i < 20; i++) expect((await server.get(wrong)).status).toBe(401);
  expect(counter.calls).toBe(1);
  expect((await server.get(a.token)).status).toBe(200);
  expect(counter.calls).toBe(2);
  expect(denied.text).not.toContain(a.secret);
  await server.close();
}, 60_000);
