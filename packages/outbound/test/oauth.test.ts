// A real identity provider no one here wrote (oidc-provider, in process on 127.0.0.1) issuing
// 5-second JWT access tokens by client credentials, and a server that checks them with the
// project's own JWT verification against that provider's JWKS.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJwtVerifier } from '@authcache/core';
import { fetchWithToken, TokenUnavailableError } from '@authcache/outbound';
import { OAuthTokenError, oauthClientCredentials } from '@authcache/outbound/oauth';
import Provider, { errors } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const RESOURCE = 'https://orders.example';
const LIFETIME_S = 5;
let issuer = '';
let api = '';
let tokenRequests = 0;
const servers: Server[] = [];

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  // The issuer URL has the port in it: listen first, then build the provider.
  let handler: ((req: never, res: never) => void) | undefined;
  const idp = createServer((req, res) => {
    if (req.url?.startsWith('/token')) tokenRequests++;
    handler!(req as never, res as never);
  });
  issuer = await listen(idp);
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    format: 'jwk',
  });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'worker',
        client_secret: 'worker-secret-0123456789',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'orders:read',
      },
    ],
    jwks: { keys: [{ ...signingKey, kid: 'k1', alg: 'RS256', use: 'sig' }] },
    scopes: ['orders:read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: 'orders:read',
            audience: RESOURCE,
            accessTokenTTL: LIFETIME_S,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  handler = provider.callback() as never;

  const verify = createJwtVerifier({
    jwksUrl: `${issuer}/jwks`,
    issuer,
    audience: RESOURCE,
  });
  api = await listen(
    createServer(async (req, res) => {
      const header = req.headers.authorization ?? '';
      const result = header.startsWith('Bearer ')
        ? await verify(header.slice(7))
        : ({ ok: false, reason: 'invalid' } as const);
      if (!result.ok) {
        res.writeHead(result.reason === 'unavailable' ? 503 : 401).end(result.reason);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ subject: result.identity.subject }));
    }),
  );
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('oauthClientCredentials against oidc-provider', () => {
  it('1 000 calls over 20 s through fetchWithToken: 0 failures, the token endpoint hit per lifetime, not per call', {
    timeout: 60_000,
  }, async () => {
    const source = oauthClientCredentials({
      issuer,
      clientId: 'worker',
      clientSecret: 'worker-secret-0123456789',
      scope: 'orders:read',
      resource: RESOURCE,
      allowInsecureRequests: true,
      // Refresh 2 s before the 5 s expiry (1 s before the hard window, room for a slow token
      // request on a loaded machine): one token request about every 3 s.
      refreshBefore: 2_000,
    });
    const call = fetchWithToken(source);
    const durationMs = 20_000;
    const started = Date.now();
    const before = tokenRequests;
    const failures: string[] = [];
    let calls = 0;
    // 4 workers, one call each 80 ms: ≈ 1 000 calls in 20 s.
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        await new Promise((resolve) => setTimeout(resolve, worker * 20));
        while (Date.now() - started < durationMs) {
          const next = Date.now() + 80;
          calls++;
          try {
            const response = await call(`${api}/orders`);
            const body = await response.text();
            if (response.status !== 200) failures.push(`${response.status} ${body}`);
            else expect(JSON.parse(body)).toEqual({ subject: 'worker' });
          } catch (error) {
            failures.push(String(error));
          }
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
        }
      }),
    );
    const elapsed = Date.now() - started;
    const hits = tokenRequests - before;
    const stats = source.stats();
    source.close();
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(400); // ≈ 1 000 on an idle machine
    // One request per (lifetime − refreshBefore) = 3 s, plus the first: ≈ 7 in 20 s, against
    // hundreds of calls. Never fewer than one per lifetime (no call was refused).
    expect(hits).toBeGreaterThanOrEqual(Math.floor(elapsed / (LIFETIME_S * 1_000)));
    expect(hits).toBeLessThanOrEqual(Math.ceil(elapsed / 3_000) + 3);
    expect(stats.fetchesOk).toBe(hits);
    expect(stats.fetchesFailed).toBe(0);
    // Only the cold start waited (the first call of each worker, at most): every refresh ran
    // in the background while the old token was served.
    expect(stats.waits).toBeLessThanOrEqual(4);
    expect(stats.refreshes).toBe(hits - 1);
  });

  it('a wrong client secret is an OAuthTokenError (invalid_client), the cause of a typed error', async () => {
    const source = oauthClientCredentials({
      issuer,
      clientId: 'worker',
      clientSecret: 'wrong-secret-0123456789',
      scope: 'orders:read',
      allowInsecureRequests: true,
    });
    const error = (await source.get().catch((e: unknown) => e)) as TokenUnavailableError;
    source.close();
    expect(error).toBeInstanceOf(TokenUnavailableError);
    expect(error.cause).toBeInstanceOf(OAuthTokenError);
    expect(error.cause).toMatchObject({ error: 'invalid_client', status: 401 });
    expect(String(error.message) + String((error.cause as Error).message)).not.toContain(
      'wrong-secret',
    );
  });

  it('an unknown resource is an OAuthTokenError (invalid_target)', async () => {
    const source = oauthClientCredentials({
      issuer,
      clientId: 'worker',
      clientSecret: 'worker-secret-0123456789',
      scope: 'orders:read',
      resource: 'https://elsewhere.example',
      allowInsecureRequests: true,
    });
    const error = (await source.get().catch((e: unknown) => e)) as TokenUnavailableError;
    source.close();
    expect(error.cause).toBeInstanceOf(OAuthTokenError);
    expect((error.cause as OAuthTokenError).error).toBe('invalid_target');
  });
});
