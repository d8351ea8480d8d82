/** Input checks and messages of the CLI (issue 10, item 6), run through the real binary. */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type AuthCache, createAuthCache, type InvalidationEvent } from '@authcache/core';
import { createPgAccessKeyStore, createPgBus, createPgTokenStore, migrate } from '@authcache/pg';
import { createPool, dropSchema, freshSchemaName } from '@authcache/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, inProcess, node, root } from './helpers.js';

const schema = freshSchemaName('cli_checks');
const inSchema = ['--schema', schema];
const quiet = { warn() {} };
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

let pool: pg.Pool;

beforeAll(async () => {
  pool = createPool();
  await migrate(pool, { schema });
});

afterAll(async () => {
  await pool.end();
  await dropSchema(schema);
});

/** Resolves with the first invalidation `auth` hears for `tokenHash` (generous bound). */
function heard(auth: AuthCache, tokenHash: string): Promise<InvalidationEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no invalidation of ${tokenHash} within 15 s`));
    }, 15_000);
    const off = auth.onInvalidate((event) => {
      if (event.type === 'invalidate' && event.tokenHash === tokenHash) {
        clearTimeout(timer);
        off();
        resolve(event);
      }
    });
  });
}

describe('an unmigrated schema', { timeout: 90_000 }, () => {
  it("token list, create and create-daemon say to run 'authcache migrate'", async () => {
    const empty = freshSchemaName('cli_nomigr');
    try {
      for (const args of [
        ['token', 'list', '--user', 'u'],
        ['token', 'list', '--workspace', 'w'],
        ['token', 'create', '--user', 'u', '--name', 'n', '--expires-in', '1h'],
        ['token', 'create-daemon', '--workspace', 'w', '--daemon', 'd', '--expires-in', '1h'],
      ]) {
        const out = await cli([...args, '--schema', empty]);
        expect({ args, code: out.code }).toEqual({ args, code: 1 });
        expect(out.stderr).toBe(
          `authcache ${args[0]} ${args[1]}: schema ${empty} is not migrated: run 'authcache migrate'\n`,
        );
        expect(out.stdout).toBe('');
      }
    } finally {
      await dropSchema(empty);
    }
  });
});

describe('invalidate checks --kind and --hash', { timeout: 90_000 }, () => {
  it('refuses an unknown kind and a value that is not a hash, exit 2, before connecting', async () => {
    const token = `mul_${'A'.repeat(36)}`;
    const cases: Array<[string[], RegExp]> = [
      [['--kind', 'foo', '--hash', 'abc'], /--kind must be one of pat, daemon, sigv4/],
      [['--kind', 'foo', '--hash', 'a'.repeat(64)], /--kind must be one of pat, daemon, sigv4/],
      [['--kind', 'pat', '--hash', 'abc'], /--hash for the kind pat must be .*64 lowercase hex/],
      [['--kind', 'daemon', '--hash', 'A'.repeat(64)], /64 lowercase hex/],
      [['--kind', 'pat', '--hash', `${'a'.repeat(64)}0`], /64 lowercase hex/],
      [['--kind', 'pat', '--hash', token], /64 lowercase hex/],
      [['--kind', 'sigv4', '--hash', 'AKIA/../x'], /access key id/],
      [['--kind', 'sigv4', '--hash', 'short'], /access key id/],
    ];
    for (const [args, message] of cases) {
      // No DATABASE_URL: a check made after connecting would fail with "no database" instead.
      const out = await inProcess(['invalidate', ...args], {});
      expect({ args, code: out.code }).toEqual({ args, code: 2 });
      expect(out.stderr).toMatch(message);
      expect(out.stderr).not.toContain(token);
      expect(out.stdout).toBe('');
    }
    const binary = await cli(['invalidate', '--kind', 'foo', '--hash', 'abc', ...inSchema]);
    expect(binary.code).toBe(2);
    expect(binary.stderr).toMatch(
      /^authcache invalidate: --kind must be one of pat, daemon, sigv4/,
    );
  });

  it("accepts every kind the system's stores hold, with hashes shaped like theirs", async () => {
    const tokens = createPgTokenStore({ db: pool, schema });
    const accessKeys = createPgAccessKeyStore({ db: pool, schema });
    const samples: Record<string, string> = {
      pat: tokens.hashToken(`mul_${randomUUID()}`),
      daemon: createPgTokenStore({ db: pool, schema, pepper: 'p' }).hashToken(
        `mdt_${randomUUID()}`,
      ),
      sigv4: 'AKIAIOSFODNN7EXAMPLE',
    };
    expect(Object.keys(samples).sort()).toEqual([...tokens.kinds, ...accessKeys.kinds].sort());
    const auth = createAuthCache({
      store: tokens,
      bus: createPgBus({ pool, schema, logger: quiet, pruneIntervalMs: 0 }),
      logger: quiet,
    });
    try {
      await auth.ready();
      for (const [kind, hash] of Object.entries(samples)) {
        const event = heard(auth, hash);
        const out = await cli(['invalidate', '--kind', kind, '--hash', hash, ...inSchema]);
        expect(out).toEqual({ code: 0, stdout: `invalidated ${kind} ${hash}\n`, stderr: '' });
        await expect(event).resolves.toMatchObject({ kind, reason: 'invalidated' });
      }
    } finally {
      await auth.close();
    }
  });
});

describe('--version', { timeout: 120_000 }, () => {
  it("prints package.json's version from source, in process and from the built bin", async () => {
    const fromSource = await cli(['--version'], { DATABASE_URL: undefined });
    expect(fromSource).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(await inProcess(['--version'], {})).toEqual({
      code: 0,
      stdout: `${pkg.version}\n`,
      stderr: '',
    });

    // Built as `pnpm build` does (dependencies stay external), into a scratch folder of dist/.
    const outDir = `packages/cli/dist/.test-${randomUUID()}`;
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(
          fileURLToPath(new URL('../../../node_modules/.bin/tsup', import.meta.url)),
          [
            'src/index.ts',
            'src/bin.ts',
            '--format',
            'esm',
            '--target',
            'node20',
            '--out-dir',
          ].concat(`../../${outDir}`),
          { cwd: `${root}packages/cli`, timeout: 90_000 },
          (error, _stdout, stderr) =>
            error ? reject(new Error(stderr || String(error))) : resolve(),
        );
      });
      const built = await node(`${outDir}/bin.js`, ['--version'], { DATABASE_URL: undefined });
      expect(built).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    } finally {
      rmSync(`${root}${outDir}`, { recursive: true, force: true });
      try {
        rmdirSync(`${root}packages/cli/dist`); // only if the test created it (still empty)
      } catch {
        // A real build is there: leave it.
      }
    }
  });
});

describe('a mistyped option', { timeout: 90_000 }, () => {
  it("says which option and command, points to 'authcache help', exits 2", async () => {
    const cases: Array<[string[], string]> = [
      [
        ['token', 'create', '--usr', 'alice', '--name', 'n'],
        "authcache: unknown option '--usr' for 'token create'; see 'authcache help token create'\n",
      ],
      [
        ['migrate', '-x'],
        "authcache: unknown option '-x' for 'migrate'; see 'authcache help migrate'\n",
      ],
      [
        ['status', '--json=yes'],
        "authcache: option '--json' of 'status' takes no value; see 'authcache help status'\n",
      ],
      [
        ['token', 'list', '--user'],
        "authcache: option '--user' of 'token list' needs a value; see 'authcache help token list'\n",
      ],
    ];
    for (const [args, message] of cases) {
      const out = await cli(args);
      expect({ args, out }).toEqual({ args, out: { code: 2, stdout: '', stderr: message } });
    }
    const missing = await cli(['token', 'create', '--user', '--name', 'n']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("option '--user' of 'token create' needs a value");
  });

  it("'authcache help <command>' prints the command's usage", async () => {
    for (const [args, first] of [
      [['help', 'token', 'create'], 'Usage: authcache token create --user U'],
      [['help', 'token'], 'Usage: authcache token <create|create-daemon|list|revoke>'],
      [['help'], 'Usage: authcache <command>'],
    ] as const) {
      const out = await inProcess([...args]);
      expect(out.code).toBe(0);
      expect(out.stdout.startsWith(first)).toBe(true);
    }
    const unknown = await inProcess(['help', 'token', 'frob']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'token frob'");
  });
});

describe('an invalid schema name', { timeout: 90_000 }, () => {
  it('names AUTHCACHE_SCHEMA when it came from the environment, --schema when from the flag', async () => {
    const fromEnv = await cli(['status'], { AUTHCACHE_SCHEMA: 'bad-name' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(
      /^authcache status: the AUTHCACHE_SCHEMA environment variable is "bad-name", which is not a valid schema name/,
    );
    expect(fromEnv.stderr).not.toContain('--schema');

    const fromFlag = await cli(['status', '--schema', 'bad-name'], { AUTHCACHE_SCHEMA: schema });
    expect(fromFlag.code).toBe(2);
    expect(fromFlag.stderr).toMatch(
      /^authcache status: --schema is "bad-name", which is not a valid/,
    );
    expect(fromFlag.stderr).not.toContain('AUTHCACHE_SCHEMA environment');
  });
});

describe('a token that never expires', { timeout: 90_000 }, () => {
  it('without --expires-in is created with a warning on stderr; --expires-in never is quiet', async () => {
    for (const args of [
      ['token', 'create', '--user', 'u-forever', '--name', 'n'],
      ['token', 'create-daemon', '--workspace', 'w-forever', '--daemon', 'd'],
    ]) {
      const implicit = await cli([...args, ...inSchema, '--json']);
      expect(implicit.code).toBe(0);
      const created = JSON.parse(implicit.stdout) as { token: string; expiresAt: string | null };
      expect(created.expiresAt).toBeNull();
      expect(implicit.stderr).toContain('warning: this token never expires');
      expect(implicit.stderr).toContain('--expires-in never');
      expect(implicit.stderr).not.toContain(created.token);

      const explicit = await cli([...args, ...inSchema, '--json', '--expires-in', 'never']);
      expect(explicit.code).toBe(0);
      expect(JSON.parse(explicit.stdout)).toMatchObject({ expiresAt: null });
      expect(explicit.stderr).toContain('shown only once');
      expect(explicit.stderr).not.toContain('never expires');

      const limited = await cli([...args, ...inSchema, '--expires-in', '2w']);
      expect(limited.code).toBe(0);
      expect(limited.stdout).toMatch(/^expires: \d{4}-/m);
      expect(limited.stderr).not.toContain('never expires');
    }
  });
});
