import { fileURLToPath } from 'node:url';
import { readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// Boots PGlite in a child process: generous timeouts so a loaded machine is not a failure.
it('the README example runs and prints what it promises', { timeout: 120_000 }, async () => {
  const { code, output } = readReadmeExample(packageDir);
  expect(code).toContain('createUpgradeGuard');
  const stdout = await runReadmeCode(packageDir, code, { timeoutMs: 110_000 });
  expect(stdout.trim()).toBe(output!.trim());
});
