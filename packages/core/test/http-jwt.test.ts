import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../src/index.js';

const secret = 'a-test-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, key = secret) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(key));
}

describe('createJwtVerifier with a secret', () => {
  const verify = createJwtVerifier({ secret, issuer: 'https://issuer.test', audience: 'api' });
  const base = { iss: 'https://issuer.test', aud: 'api', sub: 'user-1' };

  it('builds the identity from the claims', async () => {
    const exp = now() + 600;
    const token = await hs256({ ...base, jti: 'j1', exp, scope: 'read write' });
    const result = await verify(token);
    expect(result).toEqual({
      ok: true,
      identity: {
        kind: 'jwt',
        tokenId: 'j1',
        subject: 'user-1',
        scopes: ['read', 'write'],
        expiresAt: exp * 1000,
        attributes: { claims: { ...base, jti: 'j1', exp, scope: 'read write' } },
      },
    });
  });

  it('reads scp arrays, defaults jti to empty and exp to null', async () => {
    const result = await verify(await hs256({ ...base, scp: ['a', 'b', 3] }));
    expect(result.ok && result.identity).toMatchObject({
      tokenId: '',
      scopes: ['a', 'b'],
      expiresAt: null,
    });
  });

  it.each([
    ['bad signature', () => hs256(base, 'another-secret-another-secret-another')],
    ['wrong issuer', () => hs256({ ...base, iss: 'https://evil.test' })],
    ['wrong audience', () => hs256({ ...base, aud: 'other' })],
    ['no sub', () => hs256({ iss: base.iss, aud: base.aud })],
    ['not before in the future', () => hs256({ ...base, nbf: now() + 600 })],
    [
      'alg none',
      async () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(base)).toString('base64url')}.`,
    ],
    ['garbage', async () => 'abc.def.ghi'],
  ])('%s → invalid', async (_name, make) => {
    expect(await verify(await make())).toEqual({ ok: false, reason: 'invalid' });
  });

  it('expired → expired', async () => {
    expect(await verify(await hs256({ ...base, exp: now() - 10 }))).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('rejects bad options at creation', () => {
    expect(() => createJwtVerifier({ secret: '' })).toThrow(TypeError);
    expect(() => createJwtVerifier({ secret, jwksUrl: 'http://x' } as never)).toThrow(TypeError);
  });
});

describe('createJwtVerifier with a JWKS URL', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let sign: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    sign = (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
    server = createServer((req, res) => {
      fetches++;
      if (req.url === '/broken') {
        res.writeHead(500).end('oops');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('verifies against the served keys, fetching them once for many verifiers', async () => {
    const before = fetches;
    const a = createJwtVerifier({ jwksUrl: `${url}/jwks.json` });
    const b = createJwtVerifier({ jwksUrl: `${url}/jwks.json` });
    const token = await sign({ sub: 'svc', exp: now() + 60 });
    expect(await a(token)).toMatchObject({ ok: true, identity: { kind: 'jwt', subject: 'svc' } });
    expect(await b(token)).toMatchObject({ ok: true });
    expect(fetches - before).toBe(1);
  });

  it('an endpoint answering 500 → unavailable', async () => {
    const verify = createJwtVerifier({ jwksUrl: `${url}/broken` });
    expect(await verify(await sign({ sub: 'svc' }))).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('an unreachable endpoint → unavailable, not invalid', async () => {
    const dead = createServer();
    await new Promise<void>((done) => dead.listen(0, '127.0.0.1', done));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((done) => dead.close(() => done()));
    const verify = createJwtVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    expect(await verify(await sign({ sub: 'svc' }))).toEqual({ ok: false, reason: 'unavailable' });
  });

  it('an endpoint that never answers → unavailable after jwksTimeout', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as AddressInfo).port;
    try {
      const verify = createJwtVerifier({ jwksUrl: `http://127.0.0.1:${port}/`, jwksTimeout: 200 });
      expect(await verify(await sign({ sub: 'svc' }))).toEqual({
        ok: false,
        reason: 'unavailable',
      });
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });
});
