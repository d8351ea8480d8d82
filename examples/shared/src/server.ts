import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createUpgradeGuard, type UpgradeGuard } from '@authcache/ws';
import { publicIdentity } from './api.js';
import {
  createExampleContext,
  type ExampleContext,
  type ExampleContextOptions,
} from './context.js';
import { S3_MOUNT, S3_REGION, S3_SERVICE } from './s3.js';

/** Options of {@link serveExample}. */
export interface ServeExampleOptions extends ExampleContextOptions {
  /** Turns the context into the app's request listener (the only framework-specific part). */
  createListener(ctx: ExampleContext): RequestListener;
  /** Port to listen on; `0` picks a free one. Default: `PORT`, else `3000`. */
  port?: number;
  /** Interface to listen on. Default: `HOST`, else `127.0.0.1`. */
  host?: string;
}

/** A running example. */
export interface RunningExample {
  readonly ctx: ExampleContext;
  readonly server: Server;
  readonly guard: UpgradeGuard;
  /** e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly port: number;
  /** Closes WebSockets, the HTTP server, the auth cache and the database. */
  close(): Promise<void>;
}

/**
 * The guarded `/ws` endpoint: PATs and daemon tokens from the `Authorization` header or the
 * `bearer` subprotocol, or (browser mode) a first `{"type":"auth"}` message. It greets with the
 * identity and echoes every message back with the sender's identity.
 */
export function attachWebSocket(server: Server, ctx: ExampleContext): UpgradeGuard {
  const guard = createUpgradeGuard({
    auth: ctx.auth,
    kinds: ['pat', 'daemon'],
    path: '/ws',
    browserAuth: true,
  });
  guard.onConnection((ws, auth) => {
    const identity = publicIdentity(auth);
    ws.send(JSON.stringify({ type: 'welcome', identity }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      ws.send(JSON.stringify({ type: 'echo', identity, data: data.toString() }));
    });
  });
  guard.attach(server);
  return guard;
}

/** Creates the context, the HTTP server and the guarded WebSocket, and starts listening. */
export async function serveExample(options: ServeExampleOptions): Promise<RunningExample> {
  const env = options.env ?? process.env;
  const ctx = await createExampleContext(options);
  const server = createServer(options.createListener(ctx));
  const guard = attachWebSocket(server, ctx);
  try {
    server.listen(
      options.port ?? Number(env.PORT || 3000),
      options.host ?? (env.HOST || '127.0.0.1'),
    );
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => Promise.reject(error)),
    ]);
  } catch (error) {
    await ctx.close();
    throw error;
  }
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  let closing: Promise<void> | undefined;
  return {
    ctx,
    server,
    guard,
    url: `http://${host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        await guard.close();
        guard.wss.close();
        server.closeIdleConnections();
        const closed = new Promise((resolve) => server.close(resolve));
        server.closeAllConnections();
        await closed;
        await ctx.close();
      })();
      return closing;
    },
  };
}

/** The `main` of every example: serve, print where, and shut down cleanly on SIGINT/SIGTERM. */
export async function runExample(
  name: string,
  createListener: ServeExampleOptions['createListener'],
) {
  const running = await serveExample({ createListener });
  const { ctx, url } = running;
  const buses = ctx.buses.length > 0 ? ctx.buses.join(' + ') : 'none';
  console.log(
    `${name} listening on ${url} (store: ${ctx.database}, shared tier: ${ctx.sharedTier}, bus: ${buses})`,
  );
  console.log(`  GET ${url}/api/me · POST ${url}/api/tokens · DELETE ${url}/api/tokens/:id`);
  console.log(`  POST ${url}/api/daemon/heartbeat · WebSocket ${url.replace(/^http/, 'ws')}/ws`);
  // The access key id only: its secret is never printed.
  const seeded = ctx.seededAccessKeyId ? `, seeded key ${ctx.seededAccessKeyId}` : '';
  console.log(`  S3 (SigV4, ${S3_SERVICE} ${S3_REGION}, path-style) ${url}${S3_MOUNT}${seeded}`);
  if (ctx.encryptionKey === 'generated') {
    console.log(
      '  ACCESS_KEY_ENCRYPTION_KEY unset: access-key secrets are sealed with a key generated for this run (embedded mode only)',
    );
  }
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return running;
}
