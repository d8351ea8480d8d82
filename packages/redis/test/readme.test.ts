import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { createPool } from './support/pg.js';
import { connect, dropPrefix, uniquePrefix } from './support/redis.js';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const schema = `authcache_redis_readme_${process.pid}`;
const prefix = uniquePrefix('readme');

afterAll(async () => {
  const pool = createPool({ max: 1 });
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
  const redis = await connect();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

it('the README example runs and prints what it promises', { timeout: 60_000 }, async () => {
  const readme = readFileSync(`${packageDir}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const snippet = blocks.find(([, lang]) => lang === 'ts')?.[2];
  const promised = blocks.find(([, lang], i) => lang === '' && i > 0)?.[2];
  expect(snippet).toContain('redisTier');
  // Saved inside the package, as the README says, so that its imports resolve the same way.
  const file = `${packageDir}.readme-example-${process.pid}.ts`;
  writeFileSync(file, snippet!);
  try {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', file],
      {
        cwd: repoRoot,
        timeout: 50_000,
        env: { ...process.env, AUTHCACHE_SCHEMA: schema, AUTHCACHE_PREFIX: prefix },
      },
    );
    expect(stdout.trim().split('\n')).toEqual(promised!.trim().split('\n'));
  } finally {
    rmSync(file, { force: true });
  }
});
