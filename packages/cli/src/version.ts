import { readFileSync } from 'node:fs';

const PACKAGE_NAME = '@authcache/cli';

/**
 * The version in `@authcache/cli`'s package.json, found by walking up from this module: it sits
 * in `src/` when run from source and in `dist/` (bundled into `bin.js` or a chunk) when built.
 */
export function packageVersion(): string {
  let dir = new URL('.', import.meta.url);
  for (let depth = 0; depth < 5; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No (readable) package.json here: look one level up.
    }
    dir = new URL('..', dir);
  }
  throw new Error(`cannot find the package.json of ${PACKAGE_NAME}`);
}
