import { fileURLToPath } from 'node:url';
import { readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

// Boots PGlite in a child process: generous timeouts so a loaded CI machine is not a failure.
it('the README quick start runs and prints what it promises', { timeout: 120_000 }, async () => {
  const { code, output } = readReadmeExample(packageDir);
  expect(code).toContain('createEmbeddedDb');
  const lines = (await runReadmeCode(packageDir, code, { timeoutMs: 110_000 })).trim().split('\n');
  const expected = output!.trim().split('\n');
  expect(lines).toHaveLength(expected.length);
  expect(lines[0]).toMatch(/^created mul_[0-9A-Za-z]{4}…$/);
  expect(lines.slice(1)).toEqual(expected.slice(1));
});
