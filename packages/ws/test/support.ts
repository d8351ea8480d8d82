import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AuthCache,
  createAuthCache,
  generateToken,
  hashToken,
  type Identity,
  type TokenStore,
} from '@authcache/core';
import WebSocket from 'ws';
import { createUpgradeGuard, type UpgradeGuard, type UpgradeGuardOptions } from '../src/index.js';

// TEMPORARY: an in-memory store until @authcache/pg (PGlite) is merged into this branch.
interface Row {
  id: string;
  kind: string;
  hash: string;
  subject: string;
  expiresAt: number | null;
  revoked: boolean;
}

export interface TestStore {
  store: TokenStore;
  /** Creates a token; returns the plaintext and its id. */
  createToken(
    kind: 'pat' | 'daemon',
    subject: string,
    expiresAt?: number | null,
  ): Promise<{ token: string; id: string }>;
  /** Revokes behind the cache's back (as another instance without a bus would). */
  revokeInStore(id: string): Promise<void>;
  setExpiry(id: string, expiresAt: number | null): Promise<void>;
  /** Makes every store call fail, as an outage would. */
  breakStore(): Promise<void>;
  close(): Promise<void>;
}

export async function createTestStore(): Promise<TestStore> {
  const rows = new Map<string, Row>();
  let broken = false;
  let next = 1;
  const check = () => {
    if (broken) throw new Error('store is down');
  };
  const store: TokenStore = {
    hashToken,
    async findByHash(kind, tokenHash) {
      check();
      for (const row of rows.values()) {
        if (row.kind !== kind || row.hash !== tokenHash || row.revoked) continue;
        if (row.expiresAt !== null && row.expiresAt <= Date.now()) return null;
        const identity: Identity = {
          kind,
          tokenId: row.id,
          subject: row.subject,
          scopes: [],
          expiresAt: row.expiresAt,
        };
        return identity;
      }
      return null;
    },
    async touch() {
      check();
    },
    async revoke(kind, tokenId, options) {
      check();
      const row = rows.get(tokenId);
      if (!row || row.kind !== kind || row.revoked) return [];
      if (options?.subject !== undefined && options.subject !== row.subject) return [];
      row.revoked = true;
      return [row.hash];
    },
  };
  return {
    store,
    async createToken(kind, subject, expiresAt = null) {
      const token = generateToken(kind);
      const id = String(next++);
      rows.set(id, { id, kind, hash: hashToken(token), subject, expiresAt, revoked: false });
      return { token, id };
    },
    async revokeInStore(id) {
      rows.get(id)!.revoked = true;
    },
    async setExpiry(id, expiresAt) {
      rows.get(id)!.expiresAt = expiresAt;
    },
    async breakStore() {
      broken = true;
    },
    async close() {},
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
): Promise<Harness> {
  const auth = createAuthCache({ store, logger: silentLogger() });
  const guard = createUpgradeGuard({
    auth,
    kinds: ['pat', 'daemon'],
    path: '/ws',
    ...guardOptions,
  });
  guard.wss.on('connection', (ws: WebSocket, _req: IncomingMessage, identity: Identity) => {
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
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
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
