import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Client options recommended for the tier: fail fast instead of queueing during an outage. */
export const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1_000,
  retryStrategy: (times) => Math.min(times * 20, 200),
};

/** A unique key prefix per test file, so files never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `authcache-test:${name}:${randomUUID()}:`;
}

/** Opens a client and waits until it is ready. */
export async function connect(url = REDIS_URL, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(url, { ...FAIL_FAST, lazyConnect: true, ...options });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Every key under `prefix` (SCAN, never KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP proxy in front of Redis that a test can stall (bytes are held, nothing answers: every
 * call times out) or cut (connections are dropped and refused).
 */
export async function startProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let mode: 'pass' | 'stall' | 'cut' = 'pass';
  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (mode === 'pass') to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stall() {
      mode = 'stall';
    },
    cut() {
      mode = 'cut';
      for (const socket of sockets) socket.destroy();
    },
    resume() {
      mode = 'pass';
    },
    async close() {
      mode = 'cut';
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A private redis-server on a free port, with no persistence, that a test may kill. */
export async function startPrivateRedis(port?: number) {
  const chosen = port ?? (await freePort());
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const probe = new Redis(chosen, '127.0.0.1', {
      lazyConnect: true,
      retryStrategy: () => 20,
      maxRetriesPerRequest: null,
    });
    probe.on('error', () => {});
    try {
      await probe.connect().catch(() => {});
      await probe.ping();
    } finally {
      probe.disconnect();
    }
  };
  await launch();
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    async kill() {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child?.kill('SIGKILL');
      await exited;
    },
    restart: launch,
    /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
  };
}

/** Host and port of the shared Redis, for proxies. */
export function redisTarget(url = REDIS_URL): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379) };
}
