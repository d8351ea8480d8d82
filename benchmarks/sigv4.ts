// SigV4 verification throughput with a warm signing-key cache vs. re-deriving the signing key
// (four HMACs) on every request, measured side by side in one run.
// Run: npx -y pnpm@10 bench sigv4
import { createHmac } from 'node:crypto';
import { createAuthCache, type Identity, type TokenStore } from '@authcache/core';
import {
  createCachedSigV4Verifier,
  createSecretKeyring,
  createSigV4Verifier,
  deriveSigningKey,
  prepareSigV4Request,
  type SigV4Key,
  type SigV4Request,
} from '@authcache/sigv4';

const ROUNDS = 5;
const N = 20_000;
const NOW = Date.parse('2026-03-01T12:00:00Z');
const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** A typical SDK GetObject request, signed for real (header form). */
function signedRequest(): SigV4Request {
  const headers: Record<string, string> = {
    host: 'bucket.example.test:9000',
    'x-amz-date': '20260301T120000Z',
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-user-agent': 'aws-sdk-js/3.0.0',
    'amz-sdk-invocation-id': '0a2e2a5e-4a8f-4a5e-9b1e-5f3b1f0c1c1c',
    'user-agent': 'aws-sdk-js/3.0.0 ua/2.1 os/linux lang/js md/nodejs#20',
  };
  const signedHeaders = 'host;x-amz-content-sha256;x-amz-date;x-amz-user-agent';
  const scope = '20260301/us-east-1/s3/aws4_request';
  const draft = (signature: string): SigV4Request => ({
    method: 'GET',
    rawPath: '/bucket/photos/2026/03/holiday%20picture.jpg?x-id=GetObject',
    headers: {
      ...headers,
      authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
    },
  });
  const prepared = prepareSigV4Request(draft('0'.repeat(64)), {
    service: 's3',
    region: 'us-east-1',
    now: NOW,
  });
  if (!('stringToSign' in prepared)) throw prepared;
  const key = deriveSigningKey(SECRET, '20260301', 'us-east-1', 's3');
  return draft(createHmac('sha256', key).update(prepared.stringToSign).digest('hex'));
}

async function nsPerOp(fn: () => Promise<unknown>, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return Number(process.hrtime.bigint() - start) / n;
}

export async function benchSigV4(): Promise<void> {
  const request = signedRequest();
  const key: SigV4Key = { secret: SECRET, secretVersion: 'v1', principal: 'bench' };
  const options = { service: 's3', region: 'us-east-1', clock: () => NOW, lookupKey: () => key };
  const warm = createSigV4Verifier({ ...options });
  const cold = createSigV4Verifier({ ...options, signingKeyCache: false });
  // The production path: the key comes from the auth cache (an L1 hit after the first request)
  // as a sealed envelope, opened (AES-256-GCM) only when a signing key must be derived.
  const keyring = createSecretKeyring({ keys: { k1: Buffer.alloc(32, 7) } });
  const identity: Identity = {
    kind: 'sigv4',
    tokenId: ACCESS_KEY_ID,
    subject: 'bench',
    scopes: [],
    expiresAt: null,
    attributes: { secretCiphertext: keyring.seal(SECRET, ACCESS_KEY_ID), sessionTokenHash: null },
  };
  const store: TokenStore = {
    findByHash: async () => identity,
    touch: async () => {},
    revoke: async () => [],
  };
  const auth = createAuthCache({ store, ttl: 3_600_000, clock: () => NOW });
  const cached = createCachedSigV4Verifier({
    auth,
    keyring,
    service: 's3',
    region: 'us-east-1',
    clock: () => NOW,
  });
  for (const verifier of [warm, cold, cached]) {
    const result = await verifier.verify(request);
    if (!result.ok) throw result.error;
  }

  const rows: { warm: number; cold: number; cached: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, so JIT warm-up and machine noise hit both variants alike.
    rows.push({
      warm: await nsPerOp(() => warm.verify(request), N),
      cold: await nsPerOp(() => cold.verify(request), N),
      cached: await nsPerOp(() => cached.verify(request), N),
    });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const w = median(rows.map((r) => r.warm));
  const c = median(rows.map((r) => r.cold));
  const a = median(rows.map((r) => r.cached));
  await auth.close();
  console.log(`\nsigv4: verify() of a signed GetObject (${ROUNDS} rounds × ${N} ops, median)`);
  console.table({
    'warm signing-key cache': {
      'ns/op': w.toFixed(0),
      'verifies/s': Math.round(1e9 / w),
      ratio: '1.00',
    },
    're-derive every request': {
      'ns/op': c.toFixed(0),
      'verifies/s': Math.round(1e9 / c),
      ratio: (c / w).toFixed(2),
    },
    'via auth cache (L1 hit, secret stays sealed)': {
      'ns/op': a.toFixed(0),
      'verifies/s': Math.round(1e9 / a),
      ratio: (a / w).toFixed(2),
    },
  });
  console.log(`throughput warm / re-derive = ${(c / w).toFixed(2)}×`);
  console.log(`signing-key cache: ${JSON.stringify(warm.signingKeyCache!.stats())}`);
}
