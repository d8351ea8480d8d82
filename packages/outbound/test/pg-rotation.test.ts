// A real Postgres password that expires: a private cluster (initdb + pg_ctl on a free port,
// scram-sha-256 for the application role) whose role password the source's fetch rotates with
// ALTER ROLE … PASSWORD … VALID UNTIL; a pg.Pool with `password: source.get` keeps opening new
// connections across several rotations.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTokenSource } from '@authcache/outbound';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'authcache-outbound-pg-'));
const data = join(dir, 'data');
let port = 0;
let admin: pg.Client;

/** Runs a Postgres binary as the `postgres` user when we are root (initdb refuses root). */
function pgBin(command: string, args: string[]) {
  return asRoot
    ? run('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 60_000 })
    : run(command, args, { timeout: 60_000 });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as { port: number };
      server.close(() => resolve(address.port));
    });
  });
}

beforeAll(async () => {
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout), Number(gid));
  }
  port = await freePort();
  await pgBin('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  // The admin may log in without a password; the application role only with scram-sha-256.
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all postgres trust',
      'host all postgres 127.0.0.1/32 trust',
      'host all app 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  await pgBin('pg_ctl', [
    '-D',
    data,
    '-w',
    '-l',
    join(data, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c password_encryption=scram-sha-256`,
    'start',
  ]);
  admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query('CREATE ROLE app LOGIN');
}, 120_000);

afterAll(async () => {
  await admin?.end().catch(() => {});
  await pgBin('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Postgres keeps one password per role, so a handshake that straddles the ALTER ROLE fails
 * whatever the client does (the server read the old verifier, the client sends the new
 * password, or the reverse). A deployment avoids that with tokens that overlap (IAM) or by
 * alternating two roles; this test holds new handshakes for the few milliseconds of the ALTER.
 */
function createGate() {
  let active = 0;
  let rotating: Promise<void> | undefined;
  const drained: (() => void)[] = [];
  return {
    async shared<T>(fn: () => Promise<T>): Promise<T> {
      while (rotating) await rotating;
      active++;
      try {
        return await fn();
      } finally {
        active--;
        if (active === 0) for (const resolve of drained.splice(0)) resolve();
      }
    },
    async exclusive<T>(fn: () => Promise<T>): Promise<T> {
      while (rotating) await rotating;
      let done!: () => void;
      rotating = new Promise<void>((resolve) => {
        done = resolve;
      });
      try {
        while (active > 0) await new Promise<void>((resolve) => drained.push(resolve));
        return await fn();
      } finally {
        rotating = undefined;
        done();
      }
    },
  };
}

it('a pg.Pool with password: source.get opens new connections across several rotations with 0 failures', {
  timeout: 90_000,
}, async () => {
  const LIFETIME = 4_000;
  const gate = createGate();
  const rotations: { password: string; validUntil: Date }[] = [];
  const source = createTokenSource({
    name: `pg:127.0.0.1:${port}:app`,
    // Refreshed 2 s ahead of VALID UNTIL (half the lifetime: the default's cap).
    fetch: () =>
      gate.exclusive(async () => {
        const password = randomBytes(18).toString('hex');
        const validUntil = new Date(Date.now() + LIFETIME);
        await admin.query(
          `ALTER ROLE app PASSWORD '${password}' VALID UNTIL '${validUntil.toISOString()}'`,
        );
        rotations.push({ password, validUntil });
        return { token: password, expiresAt: validUntil };
      }),
  });
  const pool = new pg.Pool({
    host: '127.0.0.1',
    port,
    user: 'app',
    database: 'postgres',
    password: source.get,
    max: 4,
  });
  pool.on('error', () => {});
  await source.get(); // the cold fetch, outside the gate

  const failures: string[] = [];
  let connections = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() - started < 12_000) {
        try {
          const client = await gate.shared(() => pool.connect());
          const { rows } = await client.query('SELECT current_user AS who');
          expect(rows[0].who).toBe('app');
          client.release(true); // destroy it: the next one is a new connection
          connections++;
        } catch (error) {
          failures.push(String(error));
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }),
  );
  const stats = source.stats();
  source.close();
  await pool.end();
  expect(failures).toEqual([]);
  expect(connections).toBeGreaterThan(100);
  expect(rotations.length).toBeGreaterThanOrEqual(5);
  expect(stats.waits).toBe(1); // only the cold fetch: every rotation ran in the background
  expect(stats.fetchesFailed).toBe(0);

  // The passwords really expire: once the last one's VALID UNTIL has passed, it is refused.
  const last = rotations.at(-1)!;
  await new Promise((resolve) => setTimeout(resolve, last.validUntil.getTime() - Date.now() + 500));
  const late = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'app',
    database: 'postgres',
    password: last.password,
  });
  await expect(late.connect()).rejects.toThrow(/password authentication failed/);
  await late.end().catch(() => {});
});
