import { type ChildProcess, spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { migrate } from '@authcache/pg';
import { createSealer, fromText, localKey, readHeader, toText } from '@authcache/seal';
import { createPool, DATABASE_URL, dropSchema, freshSchemaName } from '@authcache/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SealCalls } from './fixtures/counting-backend.js';
import { inProcess, root } from './helpers.js';

const K1 = randomBytes(32).toString('base64');
const K2 = randomBytes(32).toString('base64');
const LEGACY = randomBytes(32);
const KEYS_ENV = { AUTHCACHE_SEAL_KEYS: `k1=${K1},k2=${K2}`, AUTHCACHE_SEAL_CURRENT: 'k1' };
const sealer = createSealer({ backend: localKey({ keys: { k1: K1, k2: K2 }, current: 'k1' }) });
const context = (rowId: string) => ({ table: 'access_key', column: 'secret_ciphertext', rowId });
const countingModule = fileURLToPath(new URL('./fixtures/counting-backend.ts', import.meta.url));

let pool: pg.Pool;
const schemas: string[] = [];

beforeAll(() => {
  pool = createPool();
});
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
  await pool.end();
});

/** The old keyring's envelope, made by hand: `v1.env.<iv>.<ct>.<tag>`, AAD `v1.env.<id>`. */
function legacyEnvelope(secret: string, id: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', LEGACY, iv);
  cipher.setAAD(Buffer.from(`v1.env.${id}`));
  const ct = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return ['v1', 'env', iv, ct, cipher.getAuthTag()]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

/** A migrated schema with `n` sealed access keys (and `legacy` old-format ones); id → secret. */
async function seed(
  n: number,
  legacy = 0,
): Promise<{ schema: string; secrets: Map<string, string> }> {
  const schema = freshSchemaName('keys');
  schemas.push(schema);
  await migrate(pool, { schema });
  const secrets = new Map<string, string>();
  const ids: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < n + legacy; i++) {
    const id = `AKIA${String(i).padStart(16, '0')}`;
    const secret = randomBytes(30).toString('base64');
    secrets.set(id, secret);
    ids.push(id);
    values.push(i < n ? await sealer.sealText(secret, context(id)) : legacyEnvelope(secret, id));
  }
  await pool.query(
    `INSERT INTO "${schema}".access_key (access_key_id, secret_ciphertext, principal_id)
      SELECT id, v, 'p' FROM unnest($1::text[], $2::text[]) AS t(id, v)`,
    [ids, values],
  );
  return { schema, secrets };
}

const keyIds = async (schema: string) => {
  const { rows } = await pool.query<{ v: string }>(
    `SELECT secret_ciphertext AS v FROM "${schema}".access_key`,
  );
  return rows.map((r) => (r.v.startsWith('$acse$') ? readHeader(r.v).keyId : 'legacy'));
};

describe('authcache keys status', { timeout: 120_000 }, () => {
  it('10 000 records: headers only, zero backend operations, under a second', async () => {
    const { schema } = await seed(10_000);
    const env = { DATABASE_URL, ...KEYS_ENV };
    const started = performance.now();
    const out = await inProcess(
      [
        'keys',
        'status',
        '--schema',
        schema,
        '--backend',
        'module',
        '--backend-module',
        countingModule,
      ],
      env,
    );
    const elapsed = performance.now() - started;
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const calls = (globalThis as { __sealCalls?: SealCalls }).__sealCalls!;
    // describe() is the backend's static description (ids, tag): no session, no key touched.
    expect({ ...calls, describe: undefined }).toEqual({
      wrap: 0,
      unwrap: 0,
      open: 0,
      close: 0,
      describe: undefined,
    });
    expect(out.stdout).toContain('records: 10000');
    expect(out.stdout).toMatch(/local\s+k1\s+v1\s+10000/);
    expect(out.stdout).toContain(
      'mismatches: 0 sealed by another backend, 0 by a key the backend does not have',
    );
    console.log(`keys status on 10 000 records: ${elapsed.toFixed(0)} ms`);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('--verify opens every record and reports a flipped bit and a swapped row by id, exit 1', async () => {
    const { schema } = await seed(50);
    const env = { DATABASE_URL, ...KEYS_ENV };
    const clean = await inProcess(['keys', 'status', '--verify', '--schema', schema], env);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('verify: 50 of 50 open');
    const { rows } = await pool.query<{ id: string; v: string }>(
      `SELECT access_key_id AS id, secret_ciphertext AS v FROM "${schema}".access_key ORDER BY 1 LIMIT 3`,
    );
    const [a, b, c] = rows as [
      { id: string; v: string },
      { id: string; v: string },
      { id: string; v: string },
    ];
    const flipped = fromText(a.v);
    flipped[flipped.length - 20]! ^= 0x04; // a ciphertext bit
    await pool.query(
      `UPDATE "${schema}".access_key SET secret_ciphertext = $2 WHERE access_key_id = $1`,
      [a.id, toText(flipped)],
    );
    // c's envelope copied onto b's row: valid bytes, wrong row id in the AAD.
    await pool.query(
      `UPDATE "${schema}".access_key SET secret_ciphertext = $2 WHERE access_key_id = $1`,
      [b.id, c.v],
    );
    const status = await inProcess(['keys', 'status', '--schema', schema], env);
    expect(status.code).toBe(0); // the headers are intact: only decryption can tell
    const verify = await inProcess(
      ['keys', 'status', '--verify', '--schema', schema, '--json'],
      env,
    );
    expect(verify.code).toBe(1);
    const failures = JSON.parse(verify.stdout).verify.failures as Array<{
      id: string;
      reason: string;
    }>;
    expect(failures.map((f) => f.id).sort()).toEqual([a.id, b.id].sort());
    for (const f of failures) expect(f.reason).toMatch(/failed authentication/);
    expect(verify.stdout).not.toContain(K1);
  });

  it('a record of another backend or an unknown key id is a mismatch (exit 1) with no session', async () => {
    const { schema } = await seed(3);
    const only = { DATABASE_URL, AUTHCACHE_SEAL_KEYS: `k2=${K2}` };
    const out = await inProcess(['keys', 'status', '--schema', schema], only);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(
      'mismatches: 0 sealed by another backend, 3 by a key the backend does not have',
    );
  });
});

function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'packages/cli/src/bin.ts', ...args],
    {
      cwd: root,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME!, DATABASE_URL, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

describe('authcache keys rotate', { timeout: 180_000 }, () => {
  it('killed half-way, run again: every record on the new key, none lost, all verify; reads never fail', async () => {
    const { schema, secrets } = await seed(1_000, 20);
    const env = {
      ...KEYS_ENV,
      ACCESS_KEY_ENCRYPTION_KEY: LEGACY.toString('base64'),
      AUTHCACHE_SEAL_LEGACY_KEYS: `env=${LEGACY.toString('base64')}`,
    };
    // The app meanwhile: reads a random row and opens it (old or new value), again and again.
    const reader = createSealer({
      backend: localKey({ keys: { k1: K1, k2: K2 }, current: 'k1' }),
      dataKeyTtlMs: 0,
    });
    let reads = 0;
    const readErrors: string[] = [];
    let reading = true;
    const ids = [...secrets.keys()].slice(0, 1_000); // the sealed ones (the app has no legacy key here)
    const readLoop = (async () => {
      while (reading) {
        const id = ids[Math.floor(Math.random() * ids.length)]!;
        const { rows } = await pool.query<{ v: string }>(
          `SELECT secret_ciphertext AS v FROM "${schema}".access_key WHERE access_key_id = $1`,
          [id],
        );
        try {
          if ((await reader.openText(rows[0]!.v, context(id))) !== secrets.get(id))
            readErrors.push(`${id}: wrong secret`);
          reads++;
        } catch (error) {
          readErrors.push(`${id}: ${(error as Error).message}`);
        }
      }
    })();

    const child = spawnCli(
      [
        'keys',
        'rotate',
        '--to',
        'k2',
        '--schema',
        schema,
        '--batch-size',
        '25',
        '--max-rate',
        '300',
      ],
      env,
    );
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    let onK2 = 0;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      onK2 = (await keyIds(schema)).filter((k) => k === 'k2').length;
      if (onK2 >= 150) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe(null); // killed, not finished
    onK2 = (await keyIds(schema)).filter((k) => k === 'k2').length;
    expect(onK2, stderr).toBeGreaterThanOrEqual(150);
    expect(onK2).toBeLessThan(1_020);

    const again = await inProcess(['keys', 'rotate', '--to', 'k2', '--schema', schema, '--json'], {
      DATABASE_URL,
      ...env,
    });
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout);
    expect(result.alreadyCurrent).toBe(onK2);
    expect(result.rewrapped).toBe(1_020 - onK2);
    expect(result.failures).toEqual([]);

    reading = false;
    await readLoop;
    expect(readErrors).toEqual([]);
    expect(reads).toBeGreaterThan(0);

    const after = await keyIds(schema);
    expect(after.length).toBe(1_020);
    expect(after.every((k) => k === 'k2')).toBe(true);
    // None lost: every row opens to the secret it held before, with the new key only.
    const onlyK2 = createSealer({ backend: localKey({ keys: { k2: K2 } }) });
    const { rows } = await pool.query<{ id: string; v: string }>(
      `SELECT access_key_id AS id, secret_ciphertext AS v FROM "${schema}".access_key`,
    );
    for (const row of rows)
      expect(await onlyK2.openText(row.v, context(row.id))).toBe(secrets.get(row.id));
    const verify = await inProcess(['keys', 'status', '--verify', '--schema', schema], {
      DATABASE_URL,
      AUTHCACHE_SEAL_KEYS: `k2=${K2}`,
    });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('verify: 1020 of 1020 open');
  });

  it('draws a progress bar on a terminal only', async () => {
    const { schema } = await seed(60);
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, DATABASE_URL, ...KEYS_ENV };
    const args = ['keys', 'rotate', '--to', 'k2', '--schema', schema, '--batch-size', '20'];
    const command = [
      process.execPath,
      '--conditions=source',
      '--import',
      'tsx',
      'packages/cli/src/bin.ts',
      ...args,
    ];
    const { execFile } = await import('node:child_process');
    const runIn = (file: string, argv: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(file, argv, { cwd: root, env, timeout: 60_000 }, (error, stdout, stderr) =>
          error ? reject(error) : resolve(stdout + stderr),
        ),
      );
    // `script` gives the command a pseudo-terminal, as an operator's shell would.
    const quoted = command.map((part) => `'${part.replace(/'/g, "'\\''")}'`).join(' ');
    const onTty = await runIn('script', ['-qec', quoted, '/dev/null']);
    expect(onTty).toMatch(/rotate \[#+\] 60\/60/);
    expect(onTty).toContain('rotated to "k2": 60 re-wrapped');
    const piped = await runIn(process.execPath, command.slice(1));
    expect(piped).not.toContain('rotate [');
    expect(piped).toContain('rotated to "k2": 0 re-wrapped, 60 already on it');
  });

  it('refuses a key id the backend does not have', async () => {
    const { schema } = await seed(1);
    const out = await inProcess(['keys', 'rotate', '--to', 'k9', '--schema', schema], {
      DATABASE_URL,
      ...KEYS_ENV,
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('the configured local backend has no key "k9" (keys: k1, k2)');
  });
});
