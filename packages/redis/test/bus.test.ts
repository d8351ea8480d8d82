import { randomUUID } from 'node:crypto';
import type { InvalidationMessage } from '@authcache/core';
import { compareStreamIds, createRedisBus, type RedisBus } from '@authcache/redis';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, dropPrefix, redisTarget, startProxy, uniquePrefix } from './support/redis.js';

const prefix = uniquePrefix('bus');
let redis: Redis;
const open: RedisBus[] = [];
const quiet = { warn() {} };

beforeAll(async () => {
  redis = await connect();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((bus) => bus.close()));
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

function recorder() {
  const messages: InvalidationMessage[] = [];
  let flushes = 0;
  return {
    messages,
    get flushes() {
      return flushes;
    },
    handlers: {
      onInvalidate: (message: InvalidationMessage) => messages.push(message),
      onFlush: () => {
        flushes++;
      },
    },
  };
}

async function startBus(
  stream: string,
  handlers: ReturnType<typeof recorder>['handlers'],
  extra = {},
) {
  const bus = createRedisBus({ redis, stream, logger: quiet, ...extra });
  open.push(bus);
  await bus.start(handlers);
  return bus;
}

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Kills the bus's reading connection(s) from the server side. */
async function killReader(connectionName: string): Promise<number> {
  const list = String(await redis.call('CLIENT', 'LIST'));
  const ids = list
    .split('\n')
    .filter((line) => line.includes(` name=${connectionName} `))
    .map((line) => /id=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await redis.call('CLIENT', 'KILL', 'ID', id);
  return ids.length;
}

describe('compareStreamIds', () => {
  it('orders by milliseconds, then sequence', () => {
    expect(compareStreamIds('1-0', '1-0')).toBe(0);
    expect(compareStreamIds('2-0', '10-0')).toBe(-1);
    expect(compareStreamIds('10-1', '10-0')).toBe(1);
    expect(compareStreamIds('1700000000000-5', '1700000000000-12')).toBe(-1);
  });
});

describe('createRedisBus', () => {
  it('delivers messages to other instances and not back to the publisher', async () => {
    const stream = `${prefix}deliver`;
    const a = recorder();
    const b = recorder();
    const busA = await startBus(stream, a.handlers);
    const busB = await startBus(stream, b.handlers);
    expect(busB.stats()).toMatchObject({ connected: true, lastMessageAt: null, caughtUp: 0 });
    const before = Date.now();
    const message: InvalidationMessage = { kind: 'pat', tokenHash: 'h1', reason: 'revoked' };
    await busA.publish(message);
    await busA.publish({ kind: 'daemon', tokenHash: 'h2', reason: 'invalidated' });
    await waitFor(() => b.messages.length === 2);
    expect(b.messages).toEqual([
      message,
      { kind: 'daemon', tokenHash: 'h2', reason: 'invalidated' },
    ]);
    // Live delivery, not a catch-up; the time of the last message feeds auth.stats().busLagMs.
    expect(busB.stats()).toMatchObject({ connected: true, caughtUp: 0 });
    expect(busB.stats().lastMessageAt).toBeGreaterThanOrEqual(before);
    await waitFor(() => busA.stats().ignoredOwn === 2);
    expect(a.messages).toEqual([]);
    expect(busA.stats().published).toBe(2);
  });

  it('does not replay what was published before it started', async () => {
    const stream = `${prefix}fresh`;
    const a = recorder();
    const busA = await startBus(stream, a.handlers);
    await busA.publish({ kind: 'pat', tokenHash: 'old', reason: 'revoked' });
    const b = recorder();
    const busB = await startBus(stream, b.handlers);
    await busA.publish({ kind: 'pat', tokenHash: 'new', reason: 'revoked' });
    await waitFor(() => b.messages.length === 1);
    expect(b.messages[0]?.tokenHash).toBe('new');
    expect(busB.stats().flushes).toBe(0);
  });

  it('trims the stream to about maxLen', async () => {
    const stream = `${prefix}maxlen`;
    const bus = await startBus(stream, recorder().handlers, { maxLen: 100 });
    for (let i = 0; i < 600; i++)
      await bus.publish({ kind: 'pat', tokenHash: `t${i}`, reason: 'revoked' });
    const length = await redis.xlen(stream);
    // `MAXLEN ~` trims whole macro nodes (100 entries each by default), so "about".
    expect(length).toBeLessThan(300);
    expect(length).toBeGreaterThanOrEqual(100);
  });

  it('catches up after its connection is killed while a revoke is published', async () => {
    const stream = `${prefix}killed`;
    const a = recorder();
    const b = recorder();
    const busA = await startBus(stream, a.handlers);
    // Unique, so that a concurrent run of this file elsewhere is never hit.
    const name = `authcache-bus-kill-${randomUUID()}`;
    const busB = await startBus(stream, b.handlers, { connectionName: name });
    // Publish while B's reader is gone: the message waits in the stream.
    expect(await killReader(name)).toBe(1);
    await busA.publish({ kind: 'pat', tokenHash: 'during-outage', reason: 'revoked' });
    await waitFor(() => b.messages.length === 1);
    expect(b.messages[0]?.tokenHash).toBe('during-outage');
    expect(busB.stats().reconnects).toBeGreaterThanOrEqual(1);
    // Read by the first read after the failure: a catch-up, and the reader is up again.
    expect(busB.stats()).toMatchObject({ caughtUp: 1, connected: true });
    expect(b.flushes).toBe(0);
  });

  it('flushes when the stream was trimmed past its last id while it was away', async () => {
    const stream = `${prefix}trimmed`;
    const b = recorder();
    const busA = await startBus(stream, recorder().handlers);
    const away = await awayBus(stream, b.handlers);
    await busA.publish({ kind: 'pat', tokenHash: 'seen', reason: 'revoked' });
    await waitFor(() => b.messages.length === 1);
    // B loses Redis; meanwhile more than the stream keeps is published, and trimmed.
    away.proxy.cut();
    for (let i = 0; i < 300; i++) {
      await busA.publish({ kind: 'pat', tokenHash: `lost${i}`, reason: 'revoked' });
    }
    await redis.xtrim(stream, 'MAXLEN', 1);
    away.proxy.resume();
    await waitFor(() => b.flushes === 1);
    // It then goes on reading what is left, and new messages.
    await busA.publish({ kind: 'pat', tokenHash: 'after', reason: 'revoked' });
    await waitFor(() => b.messages.some((m) => m.tokenHash === 'after'));
    expect(away.bus.stats().flushes).toBe(1);
    expect(b.messages.some((m) => m.tokenHash === 'lost0')).toBe(false);
    await away.close();
  });

  it('does not flush when nothing it had not read was trimmed', async () => {
    const stream = `${prefix}trimmed-read`;
    const b = recorder();
    const busA = await startBus(stream, recorder().handlers);
    const away = await awayBus(stream, b.handlers);
    for (let i = 0; i < 5; i++)
      await busA.publish({ kind: 'pat', tokenHash: `r${i}`, reason: 'revoked' });
    await waitFor(() => b.messages.length === 5);
    away.proxy.cut();
    await redis.xtrim(stream, 'MAXLEN', 0);
    await busA.publish({ kind: 'pat', tokenHash: 'during', reason: 'revoked' });
    away.proxy.resume();
    await waitFor(() => b.messages.some((m) => m.tokenHash === 'during'));
    expect(b.flushes).toBe(0);
    await away.close();
  });

  it('flushes when the stream disappeared (e.g. Redis restarted without persistence)', async () => {
    const stream = `${prefix}gone`;
    const b = recorder();
    const busA = await startBus(stream, recorder().handlers);
    const away = await awayBus(stream, b.handlers);
    await busA.publish({ kind: 'pat', tokenHash: 'seen', reason: 'revoked' });
    await waitFor(() => b.messages.length === 1);
    away.proxy.cut();
    await redis.del(stream);
    away.proxy.resume();
    await waitFor(() => b.flushes === 1);
    await busA.publish({ kind: 'pat', tokenHash: 'again', reason: 'revoked' });
    await waitFor(() => b.messages.some((m) => m.tokenHash === 'again'));
    await away.close();
  });

  it('retries a publish that failed while Redis was unreachable', async () => {
    const stream = `${prefix}retry`;
    const b = recorder();
    await startBus(stream, b.handlers);
    const away = await awayBus(stream, recorder().handlers);
    away.proxy.cut();
    await waitFor(() => away.client.status !== 'ready');
    await expect(
      away.bus.publish({ kind: 'pat', tokenHash: 'during-outage', reason: 'revoked' }),
    ).rejects.toThrow();
    expect(away.bus.stats()).toMatchObject({ publishErrors: 1, pending: 1 });
    away.proxy.resume();
    await waitFor(() => b.messages.some((m) => m.tokenHash === 'during-outage'));
    // B can read the entry before the XADD reply reaches the publisher, which counts it then.
    await waitFor(() => away.bus.stats().republished === 1);
    expect(away.bus.stats()).toMatchObject({ republished: 1, pending: 0 });
    await away.close();
  });

  it('starts once Redis is reachable, and close() stops it', async () => {
    const stream = `${prefix}late`;
    const proxy = await startProxy(redisTarget());
    const client = await connect(proxy.url);
    proxy.cut();
    const bus = createRedisBus({ redis: client, stream, logger: quiet, retryDelayMs: 10 });
    const b = recorder();
    let started = false;
    const starting = bus.start(b.handlers).then(() => {
      started = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(started).toBe(false);
    proxy.resume();
    await starting;
    const publisher = await startBus(stream, recorder().handlers);
    await publisher.publish({ kind: 'pat', tokenHash: 'late', reason: 'revoked' });
    await waitFor(() => b.messages.length === 1);
    await bus.close();
    await bus.close();
    client.disconnect();
    await proxy.close();
  });
});

/** A bus whose Redis connections go through a proxy the test can cut. */
async function awayBus(stream: string, handlers: ReturnType<typeof recorder>['handlers']) {
  const proxy = await startProxy(redisTarget());
  const client = await connect(proxy.url);
  const bus = createRedisBus({ redis: client, stream, logger: quiet, retryDelayMs: 10 });
  await bus.start(handlers);
  return {
    proxy,
    bus,
    client,
    async close() {
      await bus.close();
      client.disconnect();
      await proxy.close();
    },
  };
}
