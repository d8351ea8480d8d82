import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';

/** The shared test Postgres. Never stopped by tests; each test file works in its own schema. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name unique to this test file run (drop it in afterAll with {@link dropSchema}). */
export function freshSchemaName(label: string): string {
  return `authcache_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export function createPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4, ...config });
  // An idle client that loses its connection emits on the pool; without a listener that is an
  // uncaught exception. Query errors still reach the caller.
  pool.on('error', () => {});
  return pool;
}

export async function dropSchema(schema: string): Promise<void> {
  const pool = createPool({ max: 1 });
  try {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pool.end();
  }
}

/** A TCP proxy in front of Postgres that a test can cut (an outage) and restore. */
export interface CuttableProxy {
  readonly url: string;
  /** Drops every open connection and refuses new ones until `restore()`. */
  cut(): void;
  /**
   * A silent outage: connections stay open and new ones are accepted, but nothing is forwarded
   * either way (bytes are held, as a black-holed network would), so every query hangs. Held
   * bytes are delivered on `restore()`, like a network that comes back.
   */
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Bytes held while black-holed, per direction. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

export async function startProxy(targetUrl: string = DATABASE_URL): Promise<CuttableProxy> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 5432);
  const targetHost = target.hostname;
  const links = new Set<Link>();
  let mode: 'pass' | 'cut' | 'blackhole' = 'pass';

  const destroy = (link: Link) => {
    link.client.destroy();
    link.upstream?.destroy();
    links.delete(link);
  };
  const connectUpstream = (link: Link) => {
    const upstream = net.connect(targetPort, targetHost);
    link.upstream = upstream;
    upstream.on('error', () => destroy(link)).on('close', () => destroy(link));
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'pass') link.client.write(chunk);
      else link.toClient.push(chunk);
    });
    upstream.on('connect', () => {
      if (mode === 'pass') for (const chunk of link.toUpstream.splice(0)) upstream.write(chunk);
    });
  };
  const flush = (link: Link) => {
    if (!link.upstream) connectUpstream(link);
    else if (!link.upstream.connecting) {
      for (const chunk of link.toUpstream.splice(0)) link.upstream.write(chunk);
    }
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };

  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const link: Link = { client, upstream: undefined, toUpstream: [], toClient: [] };
    links.add(link);
    client.on('error', () => destroy(link)).on('close', () => destroy(link));
    client.on('data', (chunk: Buffer) => {
      const upstream = link.upstream;
      if (mode === 'pass' && upstream && !upstream.connecting) upstream.write(chunk);
      else link.toUpstream.push(chunk);
    });
    // Black-holed: accept, but do not even reach Postgres until restored.
    if (mode === 'pass') connectUpstream(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    cut() {
      mode = 'cut';
      for (const link of [...links]) destroy(link);
    },
    blackhole() {
      mode = 'blackhole';
    },
    restore() {
      mode = 'pass';
      for (const link of links) flush(link);
    },
    close() {
      mode = 'cut';
      for (const link of [...links]) destroy(link);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
