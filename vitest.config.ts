import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against the packages' TypeScript sources, so no build step precedes them: every
// entry point of `exports` with a `source` condition (`@authcache/pg`, `@authcache/pg/embedded`,
// `@authcache/express/sigv4`, …) is aliased to that source file.
const root = fileURLToPath(new URL('.', import.meta.url));
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const alias = readdirSync(`${root}packages`).flatMap((dir) => {
  const pkg = JSON.parse(readFileSync(`${root}packages/${dir}/package.json`, 'utf8')) as {
    name: string;
    exports: Record<string, { source?: string }>;
  };
  return Object.entries(pkg.exports).flatMap(([subpath, conditions]) =>
    conditions.source
      ? [
          {
            find: new RegExp(`^${escapeRegExp(pkg.name + subpath.slice(1))}$`),
            replacement: `${root}packages/${dir}/${conditions.source.slice(2)}`,
          },
        ]
      : [],
  );
});

export default defineConfig({
  resolve: { alias },
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
