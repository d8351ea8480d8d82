import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '@authcache/example-hono';
import { type RunningExample, serveExample } from '@authcache/example-shared';
import { fromFile } from '@authcache/outbound';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Beat, startHeartbeat } from '../src/heartbeat.js';

const dir = mkdtempSync(join(tmpdir(), 'authcache-daemon-'));
let app: RunningExample;

beforeAll(async () => {
  // The hono example on embedded PGlite (no DATABASE_URL): nothing shared with other tests.
  app = await serveExample({ createListener: createApp, port: 0, env: {} });
}, 60_000);
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('heartbeats with an mdt_ token read through fromFile, across a rotation and revoke, without waiting', {
  timeout: 60_000,
}, async () => {
  const file = join(dir, 'daemon.token');
  const first = await app.ctx.store.createDaemonToken({ workspaceId: 'w1', daemonId: 'd1' });
  writeFileSync(file, `${first.token}\n`);
  const source = fromFile(file, { watchInterval: 100 });
  const beats: Beat[] = [];
  const heartbeat = startHeartbeat({
    url: app.url,
    source,
    intervalMs: 20,
    onBeat: (beat) => beats.push(beat),
  });
  const until = async (count: number) => {
    while (beats.length < count) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  await until(30);
  // Rotate: a new token in the file, then the old one revoked on the server.
  const second = await app.ctx.store.createDaemonToken({ workspaceId: 'w1', daemonId: 'd1' });
  writeFileSync(file, `${second.token}\n`);
  await app.ctx.auth.revoke('daemon', first.id);
  const atRotation = beats.length;
  await until(atRotation + 60);
  await heartbeat.stop();
  const stats = source.stats();
  source.close();

  expect(beats.filter((b) => b.status !== 200)).toEqual([]);
  // Only the very first beat waited for the file to be read; the re-read ran in the background
  // (or, if the revoke reached the server first, one 401 → refresh → retry inside one beat).
  expect(stats.waits).toBeLessThanOrEqual(2);
  expect(stats.fetchesOk).toBe(2);
  expect(beats.at(-1)!.waits).toBe(stats.waits);
});
