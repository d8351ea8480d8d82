import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AuthCache, createAuthCache, createJwtVerifier } from '@authcache/core';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createEmbeddedDb, type EmbeddedDb } from '@authcache/pg/embedded';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createPool, dropSchema, freshSchemaName, startProxy } from './postgres.js';

/** A JWKS served over real HTTP from this process, stoppable to simulate an outage. */
export interface JwksServer {
  /** URL of the key set; distinct per server so jose's per-URL cache does not leak across tests. */
  readonly url: string;
  /** Signs a JWT with the served key. */
  sign(claims: Record<string, unknown>): Promise<string>;
  /** Signs a JWT with a key the set does not contain (as after a rotation not yet served). */
  signWithUnservedKey(claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const unserved = await generateKeyPair('ES256');
  const kid = `k-${Math.random().toString(36).slice(2)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${kid}/jwks.json`,
    sign: (claims) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey),
    signWithUnservedKey: (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: `${kid}-next` })
        .sign(unserved.privateKey),
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A URL on which nothing listens (the port was bound, then released). */
export async function deadUrl(path = '/jwks.json'): Promise<string> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}${path}`;
}

/**
 * Timing of the stopped-JWKS route: no cooldown, so a token with an unknown `kid` makes jose
 * fetch again at once (and meet the outage) instead of being refused from its 30 s cooldown.
 */
export const STOPPED_JWKS_OPTIONS = { jwksCooldown: 0 } as const;

export const JWT_SECRET = 'conformance-secret-conformance-secret-0123456789';

export function signHs256(claims: Record<string, unknown>, secret = JWT_SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(secret));
}

/** Everything the conformance cases need: real stores, tokens, auth caches, JWT material. */
export interface Fixture {
  readonly auth: AuthCache;
  /** Same store, clock two hours ahead: tokens that expire within the hour resolve `expired`. */
  readonly lateAuth: AuthCache;
  /** Over real Postgres behind a TCP proxy that was cut: every lookup fails (`unavailable`). */
  readonly downAuth: AuthCache;
  readonly store: PgTokenStore;
  readonly tokens: {
    /** User `user-1`, scopes `['read']`, never expires. */
    readonly pat: { id: string; token: string };
    /** User `user-2`, scopes `['read', 'write']`. */
    readonly patWrite: { id: string; token: string };
    /** Expires in one hour (expired for `lateAuth`). */
    readonly patExpiring: { id: string; token: string; expiresAt: number };
    readonly patRevoked: { id: string; token: string };
    /** Well-formed, never stored. */
    readonly patUnknown: string;
    /** Right prefix and length, wrong checksum. */
    readonly patBadChecksum: string;
    /** Workspace `ws-1`, daemon `daemon-1`. */
    readonly daemon: { id: string; token: string };
    /** A PAT of the cut-off store (its lookups are `unavailable`). */
    readonly patOnDownStore: string;
  };
  readonly jwks: JwksServer;
  /** A JWKS URL on which nothing listens. */
  readonly jwksDownUrl: string;
  /** A JWKS server whose keys were fetched once (options {@link STOPPED_JWKS_OPTIONS}), then stopped. */
  readonly jwksStopped: JwksServer;
  close(): Promise<void>;
}

function flipChecksum(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return token.slice(0, -1) + last;
}

export async function createFixture(): Promise<Fixture> {
  const db: EmbeddedDb = await createEmbeddedDb();
  await migrate(db);
  const store = createPgTokenStore({ db });
  const auth = createAuthCache({ store, logger: { warn() {} } });
  const lateAuth = createAuthCache({
    store,
    clock: () => Date.now() + 2 * 3_600_000,
    logger: { warn() {} },
  });

  const pat = await store.createPat({ userId: 'user-1', name: 'laptop', scopes: ['read'] });
  const patWrite = await store.createPat({
    userId: 'user-2',
    name: 'ci',
    scopes: ['read', 'write'],
  });
  const expiresAt = Date.now() + 3_600_000;
  const patExpiring = await store.createPat({
    userId: 'user-1',
    name: 'short',
    expiresAt: new Date(expiresAt),
  });
  const patRevoked = await store.createPat({ userId: 'user-1', name: 'old' });
  if (!(await auth.revoke('pat', patRevoked.id))) throw new Error('fixture: revoke failed');
  const unknown = await store.createPat({ userId: 'user-9', name: 'gone' });
  await db.query('DELETE FROM personal_access_token WHERE id = $1', [unknown.id]);
  const daemon = await store.createDaemonToken({ workspaceId: 'ws-1', daemonId: 'daemon-1' });

  // The outage store: real Postgres behind a TCP proxy, cut after a token was created.
  const proxy = await startProxy();
  const downSchema = freshSchemaName('conformance_down');
  const downPool = createPool({ connectionString: proxy.url, connectionTimeoutMillis: 2_000 });
  await migrate(downPool, { schema: downSchema });
  const downStore = createPgTokenStore({ db: downPool, schema: downSchema });
  const patOnDownStore = (await downStore.createPat({ userId: 'user-1', name: 'x' })).token;
  proxy.cut();
  const downAuth = createAuthCache({ store: downStore, logger: { warn() {} } });

  const jwks = await startJwksServer();
  const jwksDownUrl = await deadUrl();
  // Fetch its keys through the process-wide key set the middleware will share, then stop it.
  const jwksStopped = await startJwksServer();
  const warm = await createJwtVerifier({ jwksUrl: jwksStopped.url, ...STOPPED_JWKS_OPTIONS })(
    await jwksStopped.sign({ sub: 'warm-up' }),
  );
  if (!warm.ok) throw new Error('fixture: the JWKS warm-up failed');
  await jwksStopped.close();

  return {
    auth,
    lateAuth,
    downAuth,
    store,
    tokens: {
      pat,
      patWrite,
      patExpiring: { ...patExpiring, expiresAt },
      patRevoked,
      patUnknown: unknown.token,
      patBadChecksum: flipChecksum(pat.token),
      daemon,
      patOnDownStore,
    },
    jwks,
    jwksDownUrl,
    jwksStopped,
    async close() {
      await Promise.all([auth.close(), lateAuth.close(), downAuth.close()]);
      await jwks.close();
      await db.close();
      await downPool.end().catch(() => {});
      await proxy.close();
      await dropSchema(downSchema);
    },
  };
}
