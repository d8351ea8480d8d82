// "Never keep the plaintext secret": after resolves (verified, wrong, cached), a heap snapshot of
// the process holds no copy of the secret. The test itself keeps the token only as bytes and
// builds the string per request, so any string copy left on the heap was kept by authcache.
import { getHeapSnapshot, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { createAuthCache, createTokenFormat } from '../src/index.js';
import { createSplitStore } from './support/split-store.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function heapContains(needles: Buffer[]): Promise<boolean[]> {
  gc();
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const heap = Buffer.concat(chunks);
  return needles.map((needle) => heap.includes(needle));
}

it('no plaintext secret survives in memory: verified, wrong and cached resolves', async () => {
  const kinds = { svc: { prefix: 'svc_', split: true } } as const;
  const split = createSplitStore();
  const auth = createAuthCache({ store: split.store, tokenKinds: kinds, logger: { warn() {} } });
  const format = createTokenFormat(kinds);
  // Bytes, not strings: a Buffer's contents are not heap strings.
  const good = (() => {
    const t = format.generateSplit('svc');
    return { token: Buffer.from(t.token), id: Buffer.from(t.id), secret: Buffer.from(t.secret) };
  })();
  const wrongSecret = Buffer.from(format.generateSplit('svc').secret);
  await split.add('svc', good.id.toString(), good.secret.toString());
  const wrongToken = () => `svc_${good.id.toString()}.${wrongSecret.toString()}`;
  // In a function of its own: a suspended async frame may still hold its last temporaries.
  const exercise = async () => {
    for (let i = 0; i < 50; i++) {
      expect((await auth.resolve('svc', good.token.toString())).ok).toBe(true);
      expect((await auth.resolve('svc', wrongToken())).ok).toBe(false);
      expect(auth.peek('svc', good.token.toString())?.ok).toBe(true);
    }
  };
  await exercise();
  await new Promise((resolve) => setTimeout(resolve, 10));
  expect(split.calls.verify).toBe(2);
  // A secret is 38 characters; search for a distinctive 24-character run of each.
  const [goodFound, wrongFound, idFound] = await heapContains([
    good.secret.subarray(4, 28),
    wrongSecret.subarray(4, 28),
    good.id.subarray(0, 16),
  ]);
  expect(goodFound).toBe(false);
  expect(wrongFound).toBe(false);
  // The id is public and lives in the store's row and the identity: the search does find it.
  expect(idFound).toBe(true);
  await auth.close();
});
