// What every public package.json promises, checked without a build (the pack test checks the
// tarballs): dual exports with types per condition, no workspace-only condition when published,
// LICENSE and metadata, optional parts behind subpaths and optional peers.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { extractSnippets, PARTIAL_MARKER } from './snippets.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Conditions {
  source?: string;
  import?: { types: string; default: string };
  require?: { types: string; default: string };
}
interface Manifest {
  name: string;
  private?: boolean;
  exports: Record<string, Conditions>;
  publishConfig?: { exports?: Record<string, Conditions> };
  files?: string[];
  repository?: { url: string; directory: string };
  homepage?: string;
  bugs?: { url: string };
  keywords?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(
      readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
    ) as Manifest,
  }))
  .filter(({ manifest }) => !manifest.private);

describe.each(packages)('$manifest.name', ({ dir, manifest }) => {
  it('exports ESM and CommonJS, each with its own types, and publishes no `source` condition', () => {
    const published: Record<string, Conditions> = {};
    for (const [key, conditions] of Object.entries(manifest.exports)) {
      const base = key === '.' ? 'index' : key.slice(2);
      expect(conditions.source).toBe(`./src/${base}.ts`);
      expect(Object.keys(conditions)).toEqual(['source', 'import', 'require']);
      expect(conditions.import).toEqual({
        types: `./dist/${base}.d.ts`,
        default: `./dist/${base}.js`,
      });
      expect(conditions.require).toEqual({
        types: `./dist/${base}.d.cts`,
        default: `./dist/${base}.cjs`,
      });
      const { source: _, ...rest } = conditions;
      published[key] = rest;
    }
    expect(manifest.publishConfig?.exports).toEqual(published);
  });

  it('ships LICENSE and says where it comes from', () => {
    expect(manifest.files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE']));
    expect(readFileSync(join(root, 'packages', dir, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(root, 'LICENSE'), 'utf8'),
    );
    expect(manifest.repository).toEqual({
      type: 'git',
      url: 'git+https://github.com/authcache/authcache.git',
      directory: `packages/${dir}`,
    });
    expect(manifest.homepage).toBe(
      `https://github.com/authcache/authcache/tree/main/packages/${dir}#readme`,
    );
    expect(manifest.bugs).toEqual({ url: 'https://github.com/authcache/authcache/issues' });
    expect(manifest.keywords?.length).toBeGreaterThan(0);
  });

  it('keeps drivers and frameworks as peers, and optional parts as optional peers', () => {
    const deps = Object.keys(manifest.dependencies ?? {});
    const optional = Object.entries(manifest.peerDependenciesMeta ?? {})
      .filter(([, meta]) => meta.optional)
      .map(([name]) => name);
    if (manifest.name === '@authcache/cli') return; // an application: it brings its drivers
    for (const heavy of [
      '@electric-sql/pglite',
      '@authcache/sigv4',
      'pg',
      'ioredis',
      'ws',
      'express',
      'koa',
      'hono',
      'prom-client',
      '@opentelemetry/api',
    ]) {
      if (manifest.name !== heavy) expect(deps).not.toContain(heavy);
    }
    expect(deps.filter((name) => name.startsWith('@types/'))).toEqual([]);
    for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
      // Every peer is installed in the workspace, so the tests run against it.
      expect(manifest.devDependencies?.[peer], peer).toBeDefined();
      if (peer.startsWith('@types/')) expect(optional, peer).toContain(peer);
    }
  });
});

describe('optional parts live behind subpaths', () => {
  it('the adapters export sigv4Auth from /sigv4 only, with @authcache/sigv4 an optional peer', async () => {
    for (const name of ['express', 'koa', 'hono'] as const) {
      const main = await import(`@authcache/${name}`);
      const sigv4 = await import(`@authcache/${name}/sigv4`);
      expect(main, name).not.toHaveProperty('sigv4Auth');
      expect(typeof sigv4.sigv4Auth, name).toBe('function');
      const manifest = packages.find((p) => p.dir === name)!.manifest;
      expect(manifest.peerDependenciesMeta?.['@authcache/sigv4']).toEqual({ optional: true });
    }
  });

  it('@authcache/pg exports createEmbeddedDb from /embedded only, with PGlite an optional peer', async () => {
    // Through variables: the root package does not depend on the packages (vitest aliases them).
    const [mainEntry, embeddedEntry] = ['@authcache/pg', '@authcache/pg/embedded'];
    const main = await import(mainEntry);
    const embedded = await import(embeddedEntry);
    expect(main).not.toHaveProperty('createEmbeddedDb');
    expect(typeof embedded.createEmbeddedDb).toBe('function');
    const manifest = packages.find((p) => p.dir === 'pg')!.manifest;
    expect(manifest.peerDependenciesMeta?.['@electric-sql/pglite']).toEqual({ optional: true });
    expect(manifest.peerDependencies?.pg).toBeDefined();
    // The main entry's types must not reach PGlite's (Emscripten) declarations.
    const sources = readdirSync(join(root, 'packages/pg/src')).filter((f) => f !== 'embedded.ts');
    for (const file of sources) {
      const text = readFileSync(join(root, 'packages/pg/src', file), 'utf8');
      expect(text, file).not.toMatch(/from '(@electric-sql\/pglite|\.\/embedded\.js)'/);
    }
  });
});

describe('extractSnippets', () => {
  it('returns the ts blocks with the line of their first code line, skipping partial ones', () => {
    const markdown = [
      '# Title', // 1
      '```ts', // 2
      'const a = 1;', // 3
      '```', // 4
      '',
      PARTIAL_MARKER, // 6
      '',
      '```ts', // 8
      'app.use(x);', // 9
      '```',
      '```sh',
      'echo ```ts', // 12
      '```',
      '```typescript', // 14
      'const b = 2;', // 15
      'const c = 3;',
      '```',
    ].join('\n');
    expect(extractSnippets('doc.md', markdown)).toEqual([
      { file: 'doc.md', line: 3, code: 'const a = 1;' },
      { file: 'doc.md', line: 15, code: 'const b = 2;\nconst c = 3;' },
    ]);
  });
});
