import { fileURLToPath } from 'node:url';
import { dropSchema, freshSchemaName, readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { afterAll, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const schema = freshSchemaName('otel_readme');

afterAll(async () => {
  await dropSchema(schema);
});

it('the README example runs and prints what it promises', { timeout: 60_000 }, async () => {
  const { code, output } = readReadmeExample(packageDir);
  expect(code).toContain('createOtelMetrics');
  const stdout = await runReadmeCode(packageDir, code, {
    timeoutMs: 50_000,
    env: { AUTHCACHE_SCHEMA: schema },
  });
  expect(stdout.trim().split('\n')).toEqual(output!.trim().split('\n'));
});
