import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AuthCache,
  type AuthCacheOptions,
  createAuthCache,
  type TokenStore,
} from '@authcache/core';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createEmbeddedDb } from '@authcache/pg/embedded';
import WebSocket from 'ws';
import { createUpgradeGuard, type UpgradeGuard, type UpgradeGuardOptions } from '../src/index.js';

export interface TestStore {
  store: PgTokenStore;
  /** Creates a token; returns the plaintext and its id. */
  createToken(
    kind: 'pat' | 'daemon',
    subject: string,
    expiresAt?: number | null,
  ): Promise<{ token: string; id: string }>;
  /** Revokes behind the cache's back (as another instance without a bus would). */
  revokeInStore(id: string): Promise<void>;
  setExpiry(id: string, expiresAt: number | null): Promise<void>;
  /** Stops the embedded database, as an outage would: every store call fails from now on. */
  breakStore(): Promise<void>;
  close(): Promise<void>;
}

/** A real store: PGlite (embedded Postgres), migrated, private to the caller. */
export async function createTestStore(): Promise<TestStore> {
  const db = await createEmbeddedDb();
  await migrate(db);
  const store = createPgTokenStore({ db });
  const tables = new Map<string, string>();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await db.close();
  };
  return {
    store,
    async createToken(kind, subject, expiresAt = null) {
      const expiry = expiresAt === null ? null : new Date(expiresAt);
      const created =
        kind === 'pat'
          ? await store.createPat({ userId: subject, name: 'test', expiresAt: expiry })
          : await store.createDaemonToken({
              workspaceId: 'w1',
              daemonId: subject,
              expiresAt: expiry,
            });
      tables.set(created.id, kind === 'pat' ? 'personal_access_token' : 'daemon_token');
      return { token: created.token, id: created.id };
    },
    async revokeInStore(id) {
      await db.query(`UPDATE ${tables.get(id)} SET revoked = true WHERE id = $1`, [id]);
    },
    async setExpiry(id, expiresAt) {
      const expiry = expiresAt === null ? null : new Date(expiresAt);
      await db.query(`UPDATE ${tables.get(id)} SET expires_at = $2 WHERE id = $1`, [id, expiry]);
    },
    breakStore: stop,
    close: stop,
  };
}

export interface Harness {
  auth: AuthCache;
  guard: UpgradeGuard;
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** A real listening node:http server whose upgrades go through a guard; it greets with the identity. */
export async function startHarness(
  store: TokenStore,
  guardOptions: Partial<UpgradeGuardOptions> = {},
  authOptions: Partial<AuthCacheOptions> = {},
): Promise<Harness> {
  const auth = createAuthCache({ store, logger: silentLogger(), ...authOptions });
  await auth.ready();
  const guard = createUpgradeGuard({
    auth,
    kinds: ['pat', 'daemon'],
    path: '/ws',
    ...guardOptions,
  });
  guard.onConnection((ws, identity) => {
    ws.send(JSON.stringify({ type: 'hello', subject: identity.subject, kind: identity.kind }));
    ws.on('message', (data) => ws.send(JSON.stringify({ type: 'echo', data: data.toString() })));
  });
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  guard.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    auth,
    guard,
    server,
    url: `ws://127.0.0.1:${port}/ws`,
    async close() {
      await guard.close();
      guard.wss.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await auth.close();
    },
  };
}

export function silentLogger(lines: string[] = []) {
  return {
    warn(message: string, details?: Record<string, unknown>) {
      lines.push(`${message} ${JSON.stringify(details ?? {})}`);
    },
  };
}

/** An HTTP answer to a rejected upgrade. */
export interface Rejection {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Opens a client; resolves with the open socket and its first message, or with the HTTP rejection. */
export function connect(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string | string[]> } = {},
): Promise<
  | { type: 'open'; ws: WebSocket; first: unknown; responseHeaders: IncomingMessage['headers'] }
  | { type: 'rejected'; rejection: Rejection }
> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    let responseHeaders: IncomingMessage['headers'] = {};
    ws.once('upgrade', (res) => {
      responseHeaders = res.headers;
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({
          type: 'rejected',
          rejection: { status: res.statusCode ?? 0, headers: res.headers, body },
        }),
      );
    });
    ws.once('message', (data) =>
      resolve({ type: 'open', ws, first: JSON.parse(data.toString()), responseHeaders }),
    );
    ws.once('error', reject);
  });
}

/**
 * The server's handshake answer as a `ws` client sees it: the 101's headers, then whether the
 * client accepted them (`open`) or failed the handshake (`error`, e.g. over the subprotocol).
 */
export function handshake(
  url: string,
  protocols: string[],
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; headers: IncomingMessage['headers']; result: 'open' | string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    let responseHeaders: IncomingMessage['headers'] = {};
    ws.once('upgrade', (res) => {
      responseHeaders = res.headers;
    });
    ws.once('open', () => resolve({ ws, headers: responseHeaders, result: 'open' }));
    ws.once('error', (error) =>
      resolve({ ws, headers: responseHeaders, result: `error: ${error.message}` }),
    );
  });
}

/** Opens a client without waiting for any message (browser mode). */
export async function openRaw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await once(ws, 'open');
  return ws;
}

export function nextMessage(ws: WebSocket): Promise<unknown> {
  return new Promise((resolve) =>
    ws.once('message', (data) => resolve(JSON.parse(data.toString()))),
  );
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string; at: number }> {
  return new Promise((resolve) =>
    ws.once('close', (code, reason) =>
      resolve({ code, reason: reason.toString(), at: Date.now() }),
    ),
  );
}
