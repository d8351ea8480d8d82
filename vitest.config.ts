import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against the packages' TypeScript sources, so no build step precedes them.
const root = fileURLToPath(new URL('.', import.meta.url));
const packages = readdirSync(`${root}packages`);

export default defineConfig({
  resolve: {
    alias: packages.map((name) => ({
      find: new RegExp(`^@authcache/${name}$`),
      replacement: `${root}packages/${name}/src/index.ts`,
    })),
  },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'scripts/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
