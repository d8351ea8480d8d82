// The packages as users install them: built, packed with pnpm (workspace:* becomes a version,
// publishConfig.exports replaces the workspace-only `source` condition), installed with npm into
// fresh apps outside the workspace, then linted (publint, attw), imported and required through
// every `exports` key, typechecked under nodenext and bundler resolution, and the documentation's
// ```ts blocks compiled against them.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPgTokenStore } from '@authcache/pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSnippets, type Snippet } from './snippets.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  files?: string[];
}

const publicPackages = readdirSync(join(root, 'packages'))
  .map((dir) => ({
    dir,
    manifest: JSON.parse(
      readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'),
    ) as Manifest,
  }))
  .filter(({ manifest }) => !manifest.private);

/** Every import specifier a user can write: `@authcache/pg`, `@authcache/pg/embedded`, … */
const entryPoints = publicPackages.flatMap(({ manifest }) =>
  Object.keys(manifest.exports).map((key) => manifest.name + key.slice(1)),
);
/** What an app needs besides the tarballs, to load every entry point and its types. */
const peers: Record<string, string> = {
  '@aws-sdk/rds-signer': '^3.1175.0',
  '@electric-sql/pglite': '^0.5.16',
  '@opentelemetry/api': '^1.10.0',
  '@types/express': '^5.0.6',
  '@types/koa': '^3.0.0',
  '@types/node': '^20.19.0',
  '@types/pg': '^8.23.1',
  '@types/ws': '^8.18.1',
  express: '^5.1.0',
  hono: '^4.9.0',
  ioredis: '^5.8.0',
  koa: '^3.0.0',
  oauth4webapi: '^3.8.8',
  pg: '^8.16.0',
  'prom-client': '^15.1.3',
  undici: '^7.30.2',
  ws: '^8.18.3',
};
/** Imported by documentation snippets only. */
const snippetDependencies: Record<string, string> = {
  '@hono/node-server': '^2.1.0',
  '@koa/router': '^15.7.0',
  '@aws-sdk/client-s3': '3.1173.0',
  '@opentelemetry/sdk-metrics': '^3.1.1',
};

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const work = mkdtempSync(join(tmpdir(), 'authcache-pack-'));
const tarballDir = join(work, 'tarballs');
const tarballs = new Map<string, string>(); // package name → tarball path

async function limit<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

function sh(command: string, args: string[], cwd: string, timeout = 240_000) {
  return run(command, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env } });
}

/** An app in os.tmpdir() with `deps` installed by npm from the tarballs and the registry. */
async function createApp(
  name: string,
  type: 'module' | 'commonjs',
  packages: string[],
  extra: Record<string, string>,
): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  const local = Object.fromEntries(packages.map((pkg) => [pkg, `file:${tarballs.get(pkg)}`]));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name,
        private: true,
        type,
        dependencies: { ...local, ...extra },
        // The tarballs depend on each other by version: pin those to the tarballs, never the registry.
        overrides: local,
      },
      null,
      2,
    ),
  );
  await sh(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    dir,
  );
  return dir;
}

/** Loads every specifier with import() and require() in `dir`; what each gave. */
async function loadAll(dir: string, specifiers: string[]) {
  const script = join(dir, 'load-all.cjs');
  writeFileSync(
    script,
    `const specs = JSON.parse(process.argv[2]);
(async () => {
  const out = {};
  for (const spec of specs) {
    const entry = (out[spec] = {});
    try {
      const esm = await import(spec);
      entry.importKeys = Object.keys(esm).filter((k) => k !== 'default').sort();
    } catch (error) { entry.importError = String(error.code ?? error.message); }
    try {
      entry.requirePath = require.resolve(spec);
      entry.requireKeys = Object.keys(require(spec)).sort();
    } catch (error) { entry.requireError = String(error.code ?? error.message); }
  }
  process.stdout.write(JSON.stringify(out));
})();
`,
  );
  const esmScript = join(dir, 'resolve-all.mjs');
  writeFileSync(
    esmScript,
    `const out = {};
for (const spec of JSON.parse(process.argv[2])) out[spec] = import.meta.resolve(spec);
process.stdout.write(JSON.stringify(out));
`,
  );
  const [loaded, resolved] = await Promise.all([
    sh(process.execPath, [script, JSON.stringify(specifiers)], dir),
    sh(process.execPath, [esmScript, JSON.stringify(specifiers)], dir),
  ]);
  const urls = JSON.parse(resolved.stdout) as Record<string, string>;
  const result = JSON.parse(loaded.stdout) as Record<
    string,
    {
      importKeys?: string[];
      importError?: string;
      requirePath?: string;
      requireKeys?: string[];
      requireError?: string;
    }
  >;
  return Object.fromEntries(
    Object.entries(result).map(([spec, entry]) => [spec, { ...entry, importUrl: urls[spec] }]),
  );
}

function expectEveryEntryLoads(dir: string, loaded: Awaited<ReturnType<typeof loadAll>>) {
  for (const spec of entryPoints) {
    const entry = loaded[spec]!;
    expect(entry, spec).toMatchObject({ importKeys: expect.any(Array) });
    expect(entry.importError, spec).toBeUndefined();
    expect(entry.requireError, spec).toBeUndefined();
    expect(entry.importKeys!.length, spec).toBeGreaterThan(0);
    // The same names through both doors, from the app's node_modules, each from its own build.
    expect(entry.requireKeys, spec).toEqual(entry.importKeys);
    expect(entry.requirePath, spec).toMatch(/\/dist\/[\w-]+\.cjs$/);
    expect(entry.importUrl, spec).toMatch(/\/dist\/[\w-]+\.js$/);
    expect(entry.requirePath!.startsWith(join(dir, 'node_modules')), spec).toBe(true);
  }
}

async function typecheck(dir: string, tsconfig: object, name: string) {
  writeFileSync(join(dir, name), JSON.stringify(tsconfig, null, 2));
  try {
    await sh(process.execPath, [tsc, '-p', name, '--pretty', 'false'], dir);
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

/**
 * Errors inside third-party declarations that no consumer of ours can avoid with
 * `skipLibCheck: false`, and that are not ours to fix: PGlite's declarations need `lib: DOM` and
 * `@types/emscripten` (only `@authcache/pg/embedded` reaches them; the main entry does not), and
 * `@types/koa` 3 names `contentDisposition.Options`, which content-disposition 1.x no longer has.
 */
const thirdParty = [
  /^node_modules\/@electric-sql\/pglite\/dist\/[^(]+\(/,
  /^node_modules\/@types\/koa\/index\.d\.ts\(\d+,\d+\): error TS2694: Namespace '"[^"]*\/content-disposition\/[^"]*"' has no exported member 'Options'/,
];
const ours = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.trim() !== '' && !thirdParty.some((known) => known.test(line)))
    .join('\n');

const strictLibs = {
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  target: 'ES2022',
  lib: ['ES2023'],
  types: ['node'],
};

let esmApp = '';
let cjsApp = '';
let minimalApp = '';

beforeAll(async () => {
  // Build through turbo (cached when the sources did not change).
  await sh('npx', ['-y', 'pnpm@10', 'build'], root, 480_000);
  mkdirSync(tarballDir);
  await limit(publicPackages, 3, async ({ dir }) => {
    await sh(
      'npx',
      ['-y', 'pnpm@10', 'pack', '--pack-destination', tarballDir],
      join(root, 'packages', dir),
    );
  });
  for (const file of readdirSync(tarballDir)) {
    const manifest = JSON.parse(
      (await sh('tar', ['-xzOf', join(tarballDir, file), 'package/package.json'], work)).stdout,
    ) as Manifest;
    tarballs.set(manifest.name, join(tarballDir, file));
  }
  const all = publicPackages.map(({ manifest }) => manifest.name);
  [esmApp, cjsApp, minimalApp] = await Promise.all([
    createApp('esm-app', 'module', all, { ...peers, ...snippetDependencies }),
    createApp('cjs-app', 'commonjs', all, peers),
    // No optional peer: neither @electric-sql/pglite nor @authcache/sigv4.
    createApp('minimal-app', 'module', ['@authcache/core', '@authcache/pg', '@authcache/express'], {
      express: '^5.1.0',
      pg: '^8.16.0',
    }),
  ]);
}, 600_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed tarballs', () => {
  it('hold dist, README and LICENSE, real versions and no workspace-only condition', async () => {
    expect([...tarballs.keys()].sort()).toEqual(publicPackages.map((p) => p.manifest.name).sort());
    for (const [name, tarball] of tarballs) {
      const listing = (await sh('tar', ['-tzf', tarball], work)).stdout.split('\n');
      expect(listing, name).toContain('package/LICENSE');
      expect(listing, name).toContain('package/README.md');
      expect(listing, name).toContain('package/dist/index.cjs');
      expect(listing, name).toContain('package/dist/index.d.cts');
      expect(listing, name).toContain('package/dist/index.js.map');
      expect(
        listing.filter((file) => file.startsWith('package/src/')),
        name,
      ).toEqual([]);
      const manifest = (await sh('tar', ['-xzOf', tarball, 'package/package.json'], work)).stdout;
      expect(manifest, name).not.toContain('"source"');
      expect(manifest, name).not.toContain('workspace:');
      const parsed = JSON.parse(manifest);
      expect(parsed.repository, name).toMatchObject({
        url: 'git+https://github.com/authcache/authcache.git',
      });
      expect(parsed.keywords?.length, name).toBeGreaterThan(0);
    }
  });

  it('pass publint and @arethetypeswrong/cli', { timeout: 240_000 }, async () => {
    const reports: string[] = [];
    await limit([...tarballs], 3, async ([name, tarball]) => {
      const publint = await sh(bin('publint'), ['run', tarball, '--strict'], work).catch(
        (error) => error,
      );
      const publintOut = `${publint.stdout ?? ''}${publint.stderr ?? ''}`;
      if (publint.code || !/All good/.test(publintOut))
        reports.push(`publint ${name}:\n${publintOut}`);
      // node16 profile: node10 resolution ignores `exports`, so subpaths cannot resolve there.
      const attw = await sh(
        bin('attw'),
        [tarball, '--profile', 'node16', '--format', 'ascii'],
        work,
      ).catch((error) => error);
      if (attw.code) reports.push(`attw ${name}:\n${attw.stdout ?? ''}${attw.stderr ?? ''}`);
    });
    expect(reports.join('\n')).toBe('');
  });
});

describe('installed with npm outside the workspace', () => {
  it('an ESM app imports and requires every entry point', { timeout: 120_000 }, async () => {
    expectEveryEntryLoads(esmApp, await loadAll(esmApp, entryPoints));
  });

  it('a CommonJS app imports and requires every entry point', { timeout: 120_000 }, async () => {
    expectEveryEntryLoads(cjsApp, await loadAll(cjsApp, entryPoints));
    const help = await sh(join(cjsApp, 'node_modules', '.bin', 'authcache'), ['--help'], cjsApp);
    expect(help.stdout).toContain('migrate');
    // A subpath shares the main entry's classes (no second copy bundled into it), so
    // `instanceof` works on what a source from @authcache/outbound/rds or /oauth throws.
    const shared = await sh(
      process.execPath,
      [
        '-e',
        `const main = require('@authcache/outbound');
const { OAuthTokenError } = require('@authcache/outbound/oauth');
const { rdsIamPassword } = require('@authcache/outbound/rds');
const source = rdsIamPassword({ hostname: 'db', username: 'u', region: 'eu-west-1',
  credentials: async () => { throw new Error('no credentials'); } });
source.get().catch((error) => {
  source.close();
  console.log(new OAuthTokenError('invalid_client', 401) instanceof main.TokenSourceError,
    error instanceof main.TokenUnavailableError);
});`,
      ],
      cjsApp,
    );
    expect(shared.stdout.trim()).toBe('true true');
  });

  it('works without the optional peers (no PGlite, no @authcache/sigv4)', {
    timeout: 120_000,
  }, async () => {
    const installed = readdirSync(join(minimalApp, 'node_modules', '@authcache')).sort();
    expect(installed).toEqual(['core', 'express', 'pg']);
    expect(readdirSync(join(minimalApp, 'node_modules'))).not.toContain('@electric-sql');
    const loaded = await loadAll(minimalApp, [
      '@authcache/core',
      '@authcache/pg',
      '@authcache/express',
      '@authcache/pg/embedded',
      '@authcache/express/sigv4',
    ]);
    for (const spec of ['@authcache/core', '@authcache/pg', '@authcache/express']) {
      expect(loaded[spec]!.importError, spec).toBeUndefined();
      expect(loaded[spec]!.requireError, spec).toBeUndefined();
      expect(loaded[spec]!.importKeys, spec).toEqual(loaded[spec]!.requireKeys);
    }
    // The embedded entry loads; only starting PGlite needs the optional peer.
    expect(loaded['@authcache/pg/embedded']!.importKeys).toEqual(['createEmbeddedDb']);
    const missing = await sh(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createEmbeddedDb } from '@authcache/pg/embedded'; await createEmbeddedDb().catch((e) => console.log(e.code));",
      ],
      minimalApp,
    );
    expect(missing.stdout.trim()).toBe('ERR_MODULE_NOT_FOUND');
    for (const types of ['index.d.ts', 'index.d.cts']) {
      const text = readFileSync(join(minimalApp, 'node_modules/@authcache/pg/dist', types), 'utf8');
      expect(text, types).not.toContain('@electric-sql/pglite');
    }
    // The sigv4 subpath is the one that needs @authcache/sigv4.
    expect(loaded['@authcache/express/sigv4']!.importError).toBe('ERR_MODULE_NOT_FOUND');
  });
});

describe('typechecked as a consumer (tsc --strict, skipLibCheck false)', () => {
  const consumer = entryPoints
    .map((spec, i) => `import * as entry${i} from '${spec}';`)
    .concat(`export const entries = [${entryPoints.map((_, i) => `entry${i}`).join(', ')}];`)
    .join('\n');
  const configs = {
    nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
  };

  for (const app of ['esm', 'cjs'] as const) {
    for (const [resolution, options] of Object.entries(configs)) {
      it(`${app} app, moduleResolution ${resolution}`, { timeout: 180_000 }, async () => {
        const dir = app === 'esm' ? esmApp : cjsApp;
        writeFileSync(join(dir, 'consumer.ts'), consumer);
        const errors = await typecheck(
          dir,
          { compilerOptions: { ...strictLibs, ...options }, files: ['consumer.ts'] },
          `tsconfig.${resolution}.json`,
        );
        expect(ours(errors)).toBe('');
      });
    }
  }
});

describe('documentation snippets', () => {
  it('every ```ts block of README.md, docs/ and packages/*/README.md compiles against the tarballs', {
    timeout: 300_000,
  }, async () => {
    const snippets = collectSnippets(root);
    expect(snippets.length).toBeGreaterThan(0);
    const dir = join(esmApp, 'snippets');
    mkdirSync(dir, { recursive: true });
    const byFile = new Map<string, Snippet>();
    snippets.forEach((snippet, i) => {
      const name = `${String(i).padStart(3, '0')}-${snippet.file.replace(/[^\w]+/g, '_')}.ts`;
      byFile.set(`snippets/${name}`, snippet);
      // A module of its own, so blocks do not see each other's declarations.
      writeFileSync(join(dir, name), `${snippet.code}\nexport {};\n`);
    });
    // tsc reports no type errors at all while any file has a syntax error: compile, set the
    // blocks with syntax errors aside, and compile the rest again, until no syntax error is left.
    const failures = new Map<string, Set<string>>();
    let files = [...byFile.keys()];
    let output = '';
    for (let round = 0; files.length > 0 && round < 5; round++) {
      output = await typecheck(
        esmApp,
        {
          compilerOptions: {
            ...strictLibs,
            skipLibCheck: true,
            module: 'nodenext',
            moduleResolution: 'nodenext',
          },
          files,
        },
        'tsconfig.snippets.json',
      );
      const syntax = new Set<string>();
      let semantic = false;
      for (const match of output.matchAll(
        /^(snippets\/[^(]+)\((\d+),\d+\): (error TS(\d+): .*)$/gm,
      )) {
        const snippet = byFile.get(match[1]!)!;
        const key = `${snippet.file}:${snippet.line}`;
        const at = `${snippet.file}:${snippet.line + Number(match[2]) - 1}`;
        failures.set(key, (failures.get(key) ?? new Set()).add(`  ${at} ${match[3]}`));
        if (Number(match[4]) < 2000) syntax.add(match[1]!);
        else semantic = true;
      }
      // A round that reported type errors was a full check: nothing left to uncover.
      if (syntax.size === 0 || semantic) break;
      files = files.filter((file) => !syntax.has(file));
    }
    const report = [...failures].map(([block, errors]) => `${block}\n${[...errors].join('\n')}`);
    expect(
      report.join('\n'),
      `${failures.size} of ${snippets.length} blocks do not compile (mark an excerpt with <!-- snippet: partial -->)`,
    ).toBe('');
    if (failures.size === 0) expect(ours(output)).toBe('');
  });
});

/** A free TCP port on the loopback interface. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('documentation examples, started', () => {
  // The first block of each page is a whole app: compiled against the tarballs, started on a
  // database of its own, and asked with a PAT, a daemon token and no token at all.
  const pages = [
    'README.md',
    'docs/adapters/express.md',
    'docs/adapters/koa.md',
    'docs/adapters/hono.md',
  ];
  const adminUrl = new URL(DATABASE_URL);
  adminUrl.pathname = '/postgres';
  const database = `authcache_docs_${process.pid}_${Date.now().toString(36)}`;
  const appUrl = new URL(DATABASE_URL);
  appUrl.pathname = `/${database}`;
  let admin: pg.Client;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: adminUrl.toString() });
    admin.on('error', () => {});
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
  });
  afterAll(async () => {
    await admin?.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin?.end();
  });

  for (const page of pages) {
    it(`${page}: the example answers a PAT, a daemon token and a missing token`, {
      timeout: 180_000,
    }, async () => {
      const snippet = collectSnippets(root).find((s) => s.file === page);
      expect(snippet, `${page} has a complete first example`).toBeDefined();
      const name = page.replace(/[^\w]+/g, '_');
      const dir = join(esmApp, 'examples-run', name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'app.ts'), `${snippet!.code}\nexport {};\n`);
      const errors = await typecheck(
        dir,
        {
          compilerOptions: {
            ...strictLibs,
            noEmit: false,
            skipLibCheck: true,
            module: 'nodenext',
            moduleResolution: 'nodenext',
            outDir: 'out',
          },
          files: ['app.ts'],
        },
        'tsconfig.json',
      );
      expect(ours(errors)).toBe('');
      const port = await freePort();
      const child = spawn(process.execPath, ['out/app.js'], {
        cwd: dir,
        env: { ...process.env, DATABASE_URL: appUrl.toString(), PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
      const base = `http://127.0.0.1:${port}`;
      const db = new pg.Pool({ connectionString: appUrl.toString(), max: 1 });
      // The database is dropped WITH (FORCE) at the end: a killed idle client must not be an
      // unhandled error.
      db.on('error', () => {});
      try {
        // Up once it answers anything (it migrates first).
        const deadline = Date.now() + 60_000;
        for (;;) {
          if (child.exitCode !== null) throw new Error(`${page} exited early:\n${output}`);
          try {
            await fetch(`${base}/api/me`);
            break;
          } catch {
            if (Date.now() > deadline) throw new Error(`${page} never listened:\n${output}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
        const store = createPgTokenStore({ db });
        const pat = (await store.createPat({ userId: 'user-1', name: 'docs' })).token;
        const daemon = (await store.createDaemonToken({ workspaceId: 'ws-1', daemonId: 'd-1' }))
          .token;
        const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

        const me = await fetch(`${base}/api/me`, { headers: bearer(pat) });
        expect(me.status, output).toBe(200);
        expect(await me.json()).toMatchObject({ subject: 'user-1' });
        const anonymous = await fetch(`${base}/api/me`);
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="api"');

        const beat = await fetch(`${base}/daemon/heartbeat`, {
          method: 'POST',
          headers: bearer(daemon),
        });
        expect(beat.status, output).toBe(200);
        expect(await beat.json()).toMatchObject({ path: 'daemon_token' });
        const patBeat = await fetch(`${base}/daemon/heartbeat`, {
          method: 'POST',
          headers: bearer(pat),
        });
        expect(await patBeat.json()).toMatchObject({ path: 'pat' });
        expect((await fetch(`${base}/daemon/heartbeat`, { method: 'POST' })).status).toBe(401);

        if (page !== 'README.md') {
          // Optional auth: anonymous passes, a bad token does not.
          const feed = await fetch(`${base}/feed`);
          expect(feed.status, output).toBe(200);
          expect((await fetch(`${base}/feed`, { headers: bearer(`${pat}x`) })).status).toBe(401);
        }
      } finally {
        child.kill('SIGKILL');
        await db.end();
      }
    });
  }
});
