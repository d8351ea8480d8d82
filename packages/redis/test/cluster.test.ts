import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Identity, InvalidationMessage } from '@authcache/core';
import { createRedisBus, createRedisTier } from '@authcache/redis';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './support/pg.js';
import { freePort } from './support/redis.js';

// A private three-master Redis Cluster (own ports, no persistence), started and stopped here.

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'authcache-cluster-'));
const servers: ChildProcess[] = [];
let ports: number[] = [];
let cluster: Cluster;

beforeAll(async () => {
  ports = [await freePort(), await freePort(), await freePort()];
  for (const port of ports) {
    servers.push(
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      ),
    );
  }
  for (const port of ports) {
    await waitFor(async () => {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      } finally {
        probe.disconnect();
      }
    });
  }
  await run('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  await waitFor(async () => {
    const { stdout } = await run('redis-cli', ['-p', String(ports[0]), 'cluster', 'info']);
    return stdout.includes('cluster_state:ok');
  }, 20_000);
  cluster = new Cluster(
    ports.map((port) => ({ host: '127.0.0.1', port })),
    { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } },
  );
  cluster.on('error', () => {});
  await waitFor(() => cluster.status === 'ready', 10_000);
}, 60_000);

afterAll(async () => {
  cluster?.disconnect();
  for (const server of servers) server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const identity = (tokenId: string): Identity => ({
  kind: 'pat',
  tokenId,
  subject: 'user-1',
  scopes: [],
  expiresAt: null,
});

describe('on a Redis Cluster', () => {
  it('the tier works for keys spread over every node (no CROSSSLOT)', async () => {
    const tier = createRedisTier({ redis: cluster, prefix: 'authcache:', timeoutMs: 1_000 });
    for (let i = 0; i < 60; i++) {
      const key = `pat:hash${i}`;
      const { generation } = await tier.get(key);
      await tier.fill(key, { type: 'identity', identity: identity(String(i)) }, 10_000, generation);
      expect((await tier.get(key)).value).toEqual({
        type: 'identity',
        identity: identity(String(i)),
      });
      await tier.invalidate(key, 5_000);
      await tier.fill(key, { type: 'identity', identity: identity(String(i)) }, 10_000, generation);
      expect(await tier.get(key)).toMatchObject({ value: { type: 'revoked' }, generation: 1 });
      expect(await tier.claimTouch!(`touch:${key}`, 10_000)).toBe(true);
      expect(await tier.claimTouch!(`touch:${key}`, 10_000)).toBe(false);
    }
    // The keys really are spread over the three masters.
    const owners = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', `authcache:{pat:hash${i}}`));
      expect(Number(await cluster.call('CLUSTER', 'KEYSLOT', `authcache:{pat:hash${i}}:g`))).toBe(
        slot,
      );
      owners.add(String(slot));
    }
    expect(owners.size).toBeGreaterThan(30);
    expect(tier.stats().errors).toBe(0);
  });

  it('scope epochs hide identities filled before them, from another slot (second call)', async () => {
    const tier = createRedisTier({ redis: cluster, prefix: 'authcache-scope:', timeoutMs: 1_000 });
    const epoch = Date.now();
    for (let i = 0; i < 20; i++) {
      const key = `pat:scoped${i}`;
      const { generation } = await tier.get(key);
      const value = {
        type: 'identity',
        identity: identity(`s${i}`),
        filledAt: epoch - 10,
      } as const;
      await tier.fill(key, value, 10_000, generation);
    }
    await tier.invalidateScope!({ scope: 'subject', subject: 'user-1' }, epoch, 60_000);
    for (let i = 0; i < 20; i++) expect((await tier.get(`pat:scoped${i}`)).value).toBeUndefined();
    expect(tier.stats().scopeStale).toBe(20);
    // A value filled after the epoch is served (its key held the stale one: use a fresh key).
    const fresh = { type: 'identity', identity: identity('fresh'), filledAt: epoch + 1 } as const;
    await tier.fill('pat:fresh', fresh, 10_000, 0);
    expect((await tier.get('pat:fresh')).value).toEqual(fresh);
    expect(tier.stats().errors).toBe(0);
  });

  it('the bus delivers between instances, and catches up after its reader is killed', async () => {
    const stream = 'authcache:invalidations';
    const received: InvalidationMessage[] = [];
    const handlers = { onInvalidate: (m: InvalidationMessage) => received.push(m), onFlush() {} };
    const a = createRedisBus({ redis: cluster, stream, logger: { warn() {} } });
    const b = createRedisBus({
      redis: cluster,
      stream,
      connectionName: 'authcache-cluster-reader',
      logger: { warn() {} },
      retryDelayMs: 10,
    });
    await a.start({ onInvalidate() {}, onFlush() {} });
    await b.start(handlers);
    try {
      await a.publish({ kind: 'pat', tokenHash: 'one', reason: 'revoked' });
      await waitFor(() => received.length === 1);
      // Kill B's reading connection on whichever node owns the stream, then publish.
      let killed = 0;
      for (const port of ports) {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'client', 'list']);
        for (const line of stdout.split('\n')) {
          if (!line.includes(' name=authcache-cluster-reader ')) continue;
          const id = /id=(\d+)/.exec(line)![1]!;
          await run('redis-cli', ['-p', String(port), 'client', 'kill', 'id', id]);
          killed++;
        }
      }
      expect(killed).toBeGreaterThanOrEqual(1);
      await a.publish({ kind: 'pat', tokenHash: 'two', reason: 'revoked' });
      await waitFor(() => received.length === 2, 10_000);
      expect(received.map((m) => m.tokenHash)).toEqual(['one', 'two']);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
