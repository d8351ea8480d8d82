import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ResolveResult } from '@authcache/core';
import type { PgTokenStore } from '@authcache/pg';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, startInstance } from './support/instances.js';
import { freshDatabase, percentile } from './support/pg.js';
import { connect, dropPrefix, uniquePrefix } from './support/redis.js';

// The same application in two Node processes: this one, and a child started with
// `node --conditions=source --import tsx`. Both use the Redis tier, the Redis bus and the pg bus.

const prefix = uniquePrefix('two-process');
let schema: string;
let store: PgTokenStore;
let admin: pg.Pool;
let dropDatabase: () => Promise<void>;
let child: ChildProcess;
let parent: Instance;
const heard = new Map<string, (at: number) => void>();
const answers = new Map<number, (result: ResolveResult) => void>();
let nextId = 0;

beforeAll(async () => {
  const db = await freshDatabase('twoproc');
  ({ schema, store, admin } = db);
  dropDatabase = db.drop;
  parent = await startInstance({ schema, prefix, buses: ['redis', 'pg'] });
  child = fork(fileURLToPath(new URL('./fixtures/instance-process.ts', import.meta.url)), {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: { ...process.env, SCHEMA: schema, PREFIX: prefix },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    child.on(
      'message',
      (message: { type: string; tokenHash?: string; id?: number; result?: ResolveResult }) => {
        if (message.type === 'ready') resolve();
        else if (message.type === 'invalidated') heard.get(message.tokenHash!)?.(performance.now());
        else if (message.type === 'resolved') answers.get(message.id!)?.(message.result!);
      },
    );
  });
}, 60_000);

afterAll(async () => {
  if (child?.connected) {
    child.removeAllListeners('exit');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.send({ type: 'stop' });
    await exited;
  }
  await parent?.close();
  const redis = await connect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
  await dropDatabase?.();
});

function resolveInChild(token: string): Promise<ResolveResult> {
  const id = nextId++;
  return new Promise((resolve) => {
    answers.set(id, resolve);
    child.send({ type: 'resolve', id, token });
  });
}

function childHears(tokenHash: string): Promise<number> {
  return new Promise((resolve) => heard.set(tokenHash, resolve));
}

describe('two processes', () => {
  it('a revoke in one process is rejected by the other (API and direct SQL)', async () => {
    const latencies = { api: [] as number[], sql: [] as number[] };
    // The first rounds warm up the child's freshly transpiled code; they are not measured.
    const warmUp = 6;
    for (let i = 0; i < warmUp + 200; i++) {
      const viaSql = i % 2 === 1;
      const { id, token } = await store.createPat({ userId: 'u1', name: `2p ${i}` });
      expect((await resolveInChild(token)).ok).toBe(true);
      const hears = childHears(store.hashToken(token));
      const started = performance.now();
      if (viaSql) {
        await admin.query(
          `UPDATE "${schema}".personal_access_token SET revoked = true WHERE id = $1`,
          [id],
        );
      } else {
        expect(await parent.auth.revoke('pat', id)).toBe(true);
      }
      const latency = (await hears) - started;
      if (i >= warmUp) (viaSql ? latencies.sql : latencies.api).push(latency);
      expect(await resolveInChild(token)).toEqual({ ok: false, reason: 'revoked' });
    }
    const line = (xs: number[]) =>
      `p50 ${percentile(xs, 50).toFixed(2)} ms, p99 ${percentile(xs, 99).toFixed(2)} ms`;
    console.log(
      `two processes: auth.revoke() ${line(latencies.api)}; direct SQL ${line(latencies.sql)} (100 each)`,
    );
    // The 100 ms p99 is asserted in-process (integration.test.ts, 200 revokes per bus). Across
    // two processes on a runner busy with the rest of the suite, scheduling noise dominates, so
    // this only bounds the lag far below the 60 s TTL a missed revoke would cost.
    expect(Math.max(...latencies.api, ...latencies.sql)).toBeLessThan(2_000);
  });
});
