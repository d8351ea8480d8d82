import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type AuthCache,
  createAuthenticator,
  type FailureReason,
  type HttpErrorOptions,
  type JwtOptions,
  type Logger,
  nodeAuthorization,
  type RequestAuth,
  selectCredential,
  type TokenKinds,
  toHttpError,
} from '@authcache/core';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import {
  CLOSE_TRY_AGAIN_LATER,
  CLOSE_UNAUTHORIZED,
  closeCode,
  closeReason,
} from './close-codes.js';
import { offeredProtocols, protocolToken, selectBearerProtocol } from './credentials.js';
import { createLiveConnections, type LiveConnections, type PendingUpgrade } from './live.js';

/** Options of {@link createUpgradeGuard}. Every time is in milliseconds. */
export interface UpgradeGuardOptions {
  /** The auth cache that resolves tokens and announces revocations. Required. */
  auth: AuthCache;
  /**
   * Token kinds accepted on this endpoint, e.g. `['pat', 'daemon']`. Required; `[]` together with
   * `jwt` accepts JWTs only.
   */
  kinds: string | readonly string[];
  /**
   * Also accept JWTs (any token without a known prefix), verified with jose, never cached. A JWT
   * connection is closed when its `exp` passes; it cannot be revoked. Default: none.
   */
  jwt?: JwtOptions;
  /** Scopes the identity must all hold, else HTTP 403 `insufficient_scope`. Default: `[]`. */
  scopes?: readonly string[];
  /**
   * Which upgrade requests this guard handles, matched on the pathname (query ignored): a
   * string for an exact match, or a predicate. Requests that do not match are left untouched
   * (`handleUpgrade` returns `false`). Default: every path.
   */
  path?: string | ((pathname: string) => boolean);
  /**
   * The server that completes accepted handshakes; it must be created with `noServer: true`.
   * Its `handleProtocols` is wrapped with {@link selectBearerProtocol}: it only ever sees, and
   * may only answer, offers that are neither `bearer`, nor the token after it, nor shaped like
   * a credential. Default: `new WebSocketServer({ noServer: true })`.
   */
  wss?: WebSocketServer;
  /**
   * Subprotocols the app speaks, besides `bearer`: the answer is the client's first offer in
   * this list (unless the `wss`'s own `handleProtocols` picks another). An offer that is not
   * listed is never echoed, so a token offered without `bearer` never appears in the response.
   * Default: none (the answer is `bearer` when offered, else no subprotocol).
   */
  protocols?: readonly string[];
  /**
   * Browser mode: accept an upgrade that carries no credential, and expect the first message
   * to be `{"type":"auth","token":"…"}` within `browserAuthTimeoutMs`. Answered
   * `{"type":"auth_ok"}`, or closed with 4401 (1013 when the store is unavailable). With
   * `false`, an upgrade without a credential is answered HTTP 401. Default: `false`.
   */
  browserAuth?: boolean;
  /**
   * How long a browser-mode connection may stay unauthenticated before it is closed with 4401.
   * Must be positive. Default: `10_000`.
   */
  browserAuthTimeoutMs?: number;
  /** The `realm` of the `WWW-Authenticate` challenge on rejected upgrades. Default: `"api"`. */
  realm?: string;
  /** Seconds in `Retry-After` when the store is unavailable (HTTP 503). Default: `5`. */
  retryAfter?: number;
  /**
   * Token kinds used only to tell prefixed tokens from JWTs. Default: the auth cache's own
   * (`auth.tokenKinds`).
   */
  tokenKinds?: TokenKinds;
  /**
   * When a live connection's token cannot be re-checked because the store is unavailable
   * (after a flush or an `invalidated` event), the check is retried after this delay; the
   * connection stays open meanwhile. Must be positive. Default: `5_000`.
   */
  revalidateRetryMs?: number;
  /** Current time in epoch ms, used for expiry timers. Default: `Date.now`. */
  clock?: () => number;
  /** Where unexpected errors are reported (never with a token). Default: `console`. */
  logger?: Logger;
}

/** The guard returned by {@link createUpgradeGuard}. */
export interface UpgradeGuard {
  /** The `noServer` WebSocket server that completes accepted handshakes. */
  readonly wss: WebSocketServer;
  /**
   * An `'upgrade'` listener. Returns `false`, leaving the socket untouched, when the path does
   * not match; otherwise authenticates, then either writes an HTTP 400/401/403/503 and destroys
   * the socket, or completes the handshake and emits `'connection'` on `wss` with
   * `(ws, req, auth)` once the connection is authenticated.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * Adds `handleUpgrade` as an `'upgrade'` listener of `server`. An upgrade whose path does not
   * match is answered 404 when no other `'upgrade'` listener exists. Returns a detach function.
   */
  attach(server: Server): () => void;
  /**
   * Typed shorthand for `wss.on('connection', …)`: called once per authenticated connection, after
   * `auth_ok` in browser mode. Returns a function that removes the listener.
   */
  onConnection(
    listener: (ws: WebSocket, auth: RequestAuth, req: IncomingMessage) => void,
  ): () => void;
  /** The identity of an authenticated connection of this guard (with `path`, as adapters give). */
  identityOf(ws: WebSocket): RequestAuth | undefined;
  /** Number of authenticated connections being watched for revocation and expiry. */
  readonly connections: number;
  /**
   * Stops watching: unsubscribes from invalidations, clears timers and closes every open
   * connection of this guard with 1001 (going away). Does not close `wss`.
   */
  close(): Promise<void>;
}

function matcher(path: UpgradeGuardOptions['path']): (pathname: string) => boolean {
  if (path === undefined) return () => true;
  if (typeof path === 'function') return path;
  return (pathname) => pathname === path;
}

function pathnameOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new TypeError(`createUpgradeGuard: ${name} must be a positive number`);
  }
  return value;
}

/** Writes a complete HTTP response on a not-yet-upgraded socket, then destroys it. */
function writeHttpResponse(
  socket: Duplex,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: string,
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/** Messages a browser may send behind its auth message before `auth_ok`; more closes with 1008. */
const MAX_HELD_MESSAGES = 64;

const onEarlySocketError = () => {
  // A client that vanished during the token check: nothing to answer. Without a listener the
  // 'error' would crash the process (node:http leaves upgrade sockets without one).
};

/**
 * Guards WebSocket upgrades on a `node:http` server with the auth cache: a token from the
 * `Authorization` header or from `Sec-WebSocket-Protocol: bearer, <token>` (or, in browser mode,
 * from the first message) is resolved before the connection is accepted, and accepted
 * connections are closed with 4401 when their token is revoked, invalidated or expires.
 */
export function createUpgradeGuard(options: UpgradeGuardOptions): UpgradeGuard {
  const { auth } = options;
  if (!auth) throw new TypeError('createUpgradeGuard: options.auth is required');
  if (options.kinds === undefined)
    throw new TypeError('createUpgradeGuard: options.kinds is required');
  const kinds = typeof options.kinds === 'string' ? [options.kinds] : [...options.kinds];
  const matches = matcher(options.path);
  const browserAuth = options.browserAuth ?? false;
  const browserAuthTimeoutMs = positive(
    'browserAuthTimeoutMs',
    options.browserAuthTimeoutMs ?? 10_000,
  );
  const logger: Logger = options.logger ?? console;
  const errorOptions: HttpErrorOptions = { realm: options.realm, retryAfter: options.retryAfter };
  // Credential extraction, resolve, JWT and scope checks: the same pipeline as every adapter.
  const authenticate = createAuthenticator({
    auth,
    kinds,
    jwt: options.jwt,
    scopes: options.scopes,
    realm: options.realm,
    retryAfter: options.retryAfter,
    tokenKinds: options.tokenKinds,
  });
  const wss = options.wss ?? new WebSocketServer({ noServer: true });
  if (!wss.options.noServer) {
    throw new TypeError('createUpgradeGuard: options.wss must be created with noServer: true');
  }
  wss.options.handleProtocols = selectBearerProtocol(wss.options.handleProtocols, {
    protocols: options.protocols,
    tokenKinds: options.tokenKinds ?? auth.tokenKinds,
  });

  const live: LiveConnections = createLiveConnections({
    auth,
    clock: options.clock ?? Date.now,
    retryMs: positive('revalidateRetryMs', options.revalidateRetryMs ?? 5_000),
    logger,
    close: (ws, code, reason) => ws.close(code, reason),
  });
  /** Browser-mode sockets still waiting for their auth message. */
  const waiting = new Set<WebSocket>();
  let closed = false;

  const reject = (socket: Duplex, reason: FailureReason, description?: string) => {
    const error = toHttpError(
      reason,
      description ? { ...errorOptions, description } : errorOptions,
    );
    writeHttpResponse(socket, error.status, error.headers, error.body);
  };

  /** Resolves `token`; while it runs, invalidations of its hash mark the attempt stale. */
  async function check(token: string) {
    const pending = live.beginPending(auth.hashToken(token));
    try {
      return { outcome: await authenticate({ authorization: undefined, token }), pending };
    } finally {
      live.endPending(pending);
    }
  }

  function accept(
    ws: WebSocket,
    req: IncomingMessage,
    identity: RequestAuth,
    pending: PendingUpgrade,
  ): void {
    // JWTs are not in the auth cache: nothing announces their revocation, only `exp` ends them.
    const tokenHash = identity.path === 'jwt' ? undefined : pending.tokenHash;
    live.add(ws, identity, tokenHash, pending.stale);
    wss.emit('connection', ws, req, identity);
  }

  async function upgradeWithToken(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    token: string,
  ) {
    const { outcome, pending } = await check(token);
    if (!outcome.ok) {
      const { status, headers, body } = outcome.error;
      return writeHttpResponse(socket, status, headers, body);
    }
    if (socket.destroyed || closed) return void socket.destroy();
    socket.removeListener('error', onEarlySocketError);
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, outcome.auth!, pending));
  }

  function upgradeForBrowser(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.removeListener('error', onEarlySocketError);
    wss.handleUpgrade(req, socket, head, (ws) => {
      waiting.add(ws);
      const timer = setTimeout(
        () => ws.close(CLOSE_UNAUTHORIZED, 'auth_timeout'),
        browserAuthTimeoutMs,
      );
      timer.unref();
      ws.once('close', () => {
        clearTimeout(timer);
        waiting.delete(ws);
      });
      ws.once('message', (data, isBinary) => {
        clearTimeout(timer);
        // Messages sent right behind the auth message are held until the app's listeners are
        // attached on 'connection', then replayed in order.
        const held: [RawData, boolean][] = [];
        const hold = (message: RawData, binary: boolean) => {
          held.push([message, binary]);
          if (held.length > MAX_HELD_MESSAGES) ws.close(1008, 'auth_pending');
        };
        ws.on('message', hold);
        const text = isBinary ? undefined : data.toString();
        authenticateFirstMessage(ws, req, text)
          .catch((error) => {
            logger.warn('authcache/ws: browser authentication failed', { error: String(error) });
            ws.close(CLOSE_TRY_AGAIN_LATER, 'unavailable');
          })
          .finally(() => {
            ws.off('message', hold);
            if (ws.readyState !== ws.OPEN) return;
            for (const [message, binary] of held) ws.emit('message', message, binary);
          });
      });
    });
  }

  async function authenticateFirstMessage(
    ws: WebSocket,
    req: IncomingMessage,
    text: string | undefined,
  ) {
    const token = authMessageToken(text);
    if (token === undefined) return ws.close(CLOSE_UNAUTHORIZED, 'invalid_request');
    const { outcome, pending } = await check(token);
    waiting.delete(ws);
    if (ws.readyState !== ws.OPEN || closed) return;
    if (!outcome.ok)
      return ws.close(closeCode(outcome.error.reason), closeReason(outcome.error.reason));
    ws.send(JSON.stringify({ type: 'auth_ok' }));
    accept(ws, req, outcome.auth!, pending);
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!matches(pathnameOf(req))) return false;
    socket.on('error', onEarlySocketError);
    if (closed) {
      reject(socket, 'unavailable');
      return true;
    }
    const fromProtocol = protocolToken(offeredProtocols(req));
    if (fromProtocol === null) {
      reject(socket, 'malformed', 'The bearer subprotocol must be followed by a token');
      return true;
    }
    const credential = selectCredential(nodeAuthorization(req), fromProtocol);
    if (credential.ok) {
      upgradeWithToken(req, socket, head, credential.token).catch((error) => {
        logger.warn('authcache/ws: upgrade failed', { error: String(error) });
        reject(socket, 'unavailable');
      });
    } else if (credential.reason === 'missing' && browserAuth) upgradeForBrowser(req, socket, head);
    else reject(socket, credential.reason, credential.description);
    return true;
  }

  return {
    wss,
    handleUpgrade,
    attach(server) {
      const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (handleUpgrade(req, socket, head)) return;
        if (server.listenerCount('upgrade') === 1) writeHttpResponse(socket, 404, {}, 'Not Found');
      };
      server.on('upgrade', listener);
      return () => server.off('upgrade', listener);
    },
    onConnection(listener) {
      const forward = (ws: WebSocket, req: IncomingMessage, identity: RequestAuth) =>
        listener(ws, identity, req);
      wss.on('connection', forward);
      return () => wss.off('connection', forward);
    },
    identityOf: (ws) => live.identityOf(ws),
    get connections() {
      return live.size;
    },
    async close() {
      closed = true;
      for (const ws of waiting) ws.close(1001, 'going_away');
      waiting.clear();
      live.closeAll(1001, 'going_away');
    },
  };
}

/** The token of a `{"type":"auth","token":"…"}` message, or `undefined` for anything else. */
function authMessageToken(text: string | undefined): string | undefined {
  if (text === undefined || text.length > 16_384) return undefined;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { type, token } = message as { type?: unknown; token?: unknown };
  return type === 'auth' && typeof token === 'string' && token !== '' ? token : undefined;
}
