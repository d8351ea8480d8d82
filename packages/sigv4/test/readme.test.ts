import { fileURLToPath } from 'node:url';
import { readReadmeExample, runReadmeCode } from '@authcache/testkit';
import { expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

it('the README quick start runs and prints what it promises', async () => {
  const { code, output } = readReadmeExample(packageDir);
  // Run inside the package, so `@authcache/sigv4` resolves to itself (package self-reference).
  expect(await runReadmeCode(packageDir, code)).toBe(output);
});
