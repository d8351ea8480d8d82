// createExampleContext's lifecycle: a failed start must leave nothing running behind it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { generateToken } from '@authcache/core';
import { createPgTokenStore, migrate } from '@authcache/pg';
import pg from 'pg';
import { expect, it } from 'vitest';
import { seedTokens } from '../src/context.js';

const dir = fileURLToPath(new URL('..', import.meta.url));
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

it('rejects on an unreachable REDIS_URL and leaves no reconnecting client (the process exits)', async () => {
  const schema = `authcache_example_ctx_${process.pid}_${randomBytes(4).toString('hex')}`;
  const env = {
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    ACCESS_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    REDIS_URL: 'redis://127.0.0.1:1',
  };
  const script = `
    import { createExampleContext } from './src/context.ts';
    createExampleContext({ env: ${JSON.stringify(env)} }).then(
      () => console.log('started'),
      (error) => console.log('rejected:', error.message),
    );`;
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--input-type=module', '--eval', script],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  try {
    // A leftover ioredis client would keep reconnecting, and the process alive, forever.
    const exited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 8_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!exited) child.kill('SIGKILL');
    expect(output).toContain('rejected:');
    expect(exited, `process still running:\n${output}`).toBe(true);
  } finally {
    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
}, 15_000);

it('seeds SEED_PAT / SEED_DAEMON_TOKEN when another instance inserts them between check and insert', async () => {
  const schema = `authcache_example_seed_${process.pid}_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL });
  try {
    await migrate(pool, { schema });
    const store = createPgTokenStore({ db: pool, schema });
    const env = { SEED_PAT: generateToken('pat'), SEED_DAEMON_TOKEN: generateToken('daemon') };
    await seedTokens(store, env); // the other instance
    // This instance checked before the other one inserted: its first lookups see nothing.
    const racing = Object.create(store) as typeof store;
    const stale = new Set<string>();
    racing.findByHash = async (kind, hash) => {
      if (!stale.has(kind)) {
        stale.add(kind);
        return null;
      }
      return store.findByHash(kind, hash);
    };
    await expect(seedTokens(racing, env)).resolves.toBeUndefined();
    expect(stale).toEqual(new Set(['pat', 'daemon']));
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
});
