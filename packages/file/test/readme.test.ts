import { fileURLToPath } from 'node:url';
import { readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README example runs and prints what it promises', { timeout: 60_000 }, async () => {
  const { code, output } = readReadmeExample(packageDir);
  expect(code).toContain('createFileTokenStore');
  const stdout = await runReadmeCode(packageDir, code, { timeoutMs: 50_000 });
  expect(stdout.trim().split('\n')).toEqual(output!.trim().split('\n'));
});
