import { fileURLToPath } from 'node:url';
import { readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { afterAll, expect, it } from 'vitest';
import { createPool } from './support/pg.js';
import { connect, dropPrefix, uniquePrefix } from './support/redis.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
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
  const { code, output } = readReadmeExample(packageDir);
  expect(code).toContain('createRedisTier');
  const stdout = await runReadmeCode(packageDir, code, {
    timeoutMs: 50_000,
    env: { AUTHCACHE_SCHEMA: schema, AUTHCACHE_PREFIX: prefix },
  });
  expect(stdout.trim().split('\n')).toEqual(output!.trim().split('\n'));
});
