import {
  type AuthCache,
  authPathOf,
  type InvalidationEvent,
  type Logger,
  type RequestAuth,
  toRequestAuth,
} from '@authcache/core';
import type { WebSocket } from 'ws';
import { CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED, closeReason } from './close-codes.js';

/** setTimeout fires at once for delays above 2^31 − 1 ms (~24.8 days): longer waits are chained. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** An upgrade whose token was resolved but whose connection is not registered yet. */
export interface PendingUpgrade {
  readonly tokenHash: string;
  /** Set when an invalidation of its hash (or a flush) happened meanwhile. */
  stale: boolean;
}

interface Connection {
  identity: RequestAuth;
  /** `undefined` for credentials outside the auth cache (JWTs): only their expiry ends them. */
  readonly tokenHash: string | undefined;
  expiryTimer?: NodeJS.Timeout;
  retryTimer?: NodeJS.Timeout;
  /** Bumped by every re-check, so that an older, slower answer cannot overwrite a newer one. */
  checks: number;
}

export interface LiveConnectionsOptions {
  auth: AuthCache;
  clock: () => number;
  retryMs: number;
  logger: Logger;
  close(ws: WebSocket, code: number, reason: string): void;
}

/** Authenticated connections, indexed by token hash, closed on revoke, invalidation and expiry. */
export interface LiveConnections {
  beginPending(tokenHash: string): PendingUpgrade;
  endPending(pending: PendingUpgrade): void;
  /** Starts watching `ws`; `recheck` re-resolves its token at once (an invalidation raced it). */
  add(ws: WebSocket, identity: RequestAuth, tokenHash: string | undefined, recheck: boolean): void;
  identityOf(ws: WebSocket): RequestAuth | undefined;
  readonly size: number;
  closeAll(code: number, reason: string): void;
}

export function createLiveConnections(options: LiveConnectionsOptions): LiveConnections {
  const { auth, clock, retryMs, logger } = options;
  const connections = new Map<WebSocket, Connection>();
  const byHash = new Map<string, Set<WebSocket>>();
  const pending = new Set<PendingUpgrade>();
  let unsubscribe: (() => void) | undefined;

  function forget(ws: WebSocket): void {
    const connection = connections.get(ws);
    if (!connection) return;
    clearTimeout(connection.expiryTimer);
    clearTimeout(connection.retryTimer);
    connections.delete(ws);
    if (connection.tokenHash !== undefined) {
      const sockets = byHash.get(connection.tokenHash);
      sockets?.delete(ws);
      if (sockets?.size === 0) byHash.delete(connection.tokenHash);
    }
    if (connections.size === 0 && pending.size === 0) stopListening();
  }

  function end(ws: WebSocket, code: number, reason: string): void {
    forget(ws);
    options.close(ws, code, reason);
  }

  function scheduleExpiry(ws: WebSocket, connection: Connection): void {
    clearTimeout(connection.expiryTimer);
    connection.expiryTimer = undefined;
    const { expiresAt } = connection.identity;
    if (expiresAt === null) return;
    const delay = expiresAt - clock();
    if (delay <= 0) {
      end(ws, CLOSE_UNAUTHORIZED, 'token_expired');
      return;
    }
    connection.expiryTimer = setTimeout(
      () => scheduleExpiry(ws, connection),
      Math.min(delay, MAX_TIMER_DELAY),
    );
    // The socket keeps the process alive while it is open; the timer need not.
    connection.expiryTimer.unref();
  }

  async function recheck(ws: WebSocket, connection: Connection): Promise<void> {
    clearTimeout(connection.retryTimer);
    connection.retryTimer = undefined;
    if (connection.tokenHash === undefined) return;
    const check = ++connection.checks;
    const result = await auth.resolveHash(connection.identity.kind, connection.tokenHash);
    if (connections.get(ws) !== connection || check !== connection.checks) return;
    if (result.ok) {
      connection.identity = toRequestAuth(result.identity, authPathOf(result.identity.kind));
      return scheduleExpiry(ws, connection);
    }
    if (result.reason !== 'unavailable')
      return end(ws, CLOSE_UNAUTHORIZED, closeReason(result.reason));
    // Cannot tell now: keep the connection and ask again later.
    connection.retryTimer = setTimeout(() => startRecheck(ws, connection), retryMs);
    connection.retryTimer.unref();
  }

  function startRecheck(ws: WebSocket, connection: Connection): void {
    recheck(ws, connection).catch((error) => {
      logger.warn('authcache/ws: re-checking a connection failed', { error: String(error) });
      if (connections.get(ws) === connection) end(ws, CLOSE_TRY_AGAIN_LATER, 'unavailable');
    });
  }

  function onEvent(event: InvalidationEvent): void {
    // A scoped invalidation revokes nothing but may cover any socket: re-check them all.
    if (event.type === 'flush' || event.type === 'scope') {
      for (const item of pending) item.stale = true;
      // Distinct hashes share one resolve in the auth cache (single-flight), so this is one
      // store query per live token, not per connection.
      for (const [ws, connection] of connections) startRecheck(ws, connection);
      return;
    }
    for (const item of pending) if (item.tokenHash === event.tokenHash) item.stale = true;
    const sockets = byHash.get(event.tokenHash);
    if (!sockets) return;
    for (const ws of [...sockets]) {
      const connection = connections.get(ws)!;
      if (connection.identity.kind !== event.kind) continue;
      if (event.reason === 'revoked') end(ws, CLOSE_UNAUTHORIZED, 'token_revoked');
      // Only cached state was dropped (e.g. expires_at changed): ask the store.
      else startRecheck(ws, connection);
    }
  }

  function startListening(): void {
    unsubscribe ??= auth.onInvalidate(onEvent);
  }

  function stopListening(): void {
    unsubscribe?.();
    unsubscribe = undefined;
  }

  return {
    beginPending(tokenHash) {
      const item: PendingUpgrade = { tokenHash, stale: false };
      pending.add(item);
      startListening();
      return item;
    },
    endPending(item) {
      pending.delete(item);
      if (connections.size === 0 && pending.size === 0) stopListening();
    },
    add(ws, identity, tokenHash, stale) {
      const connection: Connection = { identity, tokenHash, checks: 0 };
      connections.set(ws, connection);
      if (tokenHash !== undefined) {
        let sockets = byHash.get(tokenHash);
        if (!sockets) {
          sockets = new Set();
          byHash.set(tokenHash, sockets);
        }
        sockets.add(ws);
      }
      startListening();
      ws.once('close', () => forget(ws));
      scheduleExpiry(ws, connection);
      if (stale && connections.get(ws) === connection) startRecheck(ws, connection);
    },
    identityOf: (ws) => connections.get(ws)?.identity,
    get size() {
      return connections.size;
    },
    closeAll(code, reason) {
      for (const ws of [...connections.keys()]) end(ws, code, reason);
      stopListening();
    },
  };
}
