/**
 * `authcache keys` with the PKCS#11 backend configured from the environment, on a private
 * SoftHSM2 token: status names the backend without a session, rotate moves every record to a new
 * label in the token, verify with only the new label passes.
 */
import { randomBytes } from 'node:crypto';
import { migrate } from '@authcache/pg';
import { createSealer, readHeader } from '@authcache/seal';
import { pkcs11Key } from '@authcache/seal/pkcs11';
import { createPool, DATABASE_URL, dropSchema, freshSchemaName } from '@authcache/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
// The private SoftHSM2 token helper of @authcache/seal's tests.
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from '../../seal/test/softhsm.js';
import { inProcess } from './helpers.js';

let hsm: SoftHsm;
let pool: pg.Pool;
const schema = freshSchemaName('keys_hsm');

beforeAll(async () => {
  hsm = createSoftHsm('cli-token');
  hsm.generate('ak-2026');
  hsm.generate('ak-2027');
  pool = createPool();
  await migrate(pool, { schema });
}, 60_000);
afterAll(async () => {
  await dropSchema(schema);
  await pool.end();
  hsm?.cleanup();
});

it('keys status / rotate / status --verify with AUTHCACHE_PKCS11_* settings', {
  timeout: 120_000,
}, async () => {
  const old = pkcs11Key({
    module: SOFTHSM_MODULE,
    slot: { tokenLabel: 'cli-token' },
    pin: { file: hsm.pinFile },
    label: 'ak-2026',
  });
  const sealer = createSealer({ backend: old });
  const secrets = new Map<string, string>();
  for (let i = 0; i < 40; i++) {
    const id = `AKIA${String(i).padStart(16, '0')}`;
    const secret = randomBytes(30).toString('base64');
    secrets.set(id, secret);
    const value = await sealer.sealText(secret, {
      table: 'access_key',
      column: 'secret_ciphertext',
      rowId: id,
    });
    await pool.query(
      `INSERT INTO "${schema}".access_key (access_key_id, secret_ciphertext, principal_id) VALUES ($1, $2, 'p')`,
      [id, value],
    );
  }
  await old.close!();
  const env = {
    DATABASE_URL,
    AUTHCACHE_SEAL_BACKEND: 'pkcs11',
    AUTHCACHE_PKCS11_MODULE: SOFTHSM_MODULE,
    AUTHCACHE_PKCS11_TOKEN: 'cli-token',
    AUTHCACHE_PKCS11_PIN_FILE: hsm.pinFile,
    AUTHCACHE_PKCS11_LABEL: 'ak-2027',
    AUTHCACHE_PKCS11_RETIRED: 'ak-2026',
  };
  const status = await inProcess(['keys', 'status', '--schema', schema], env);
  expect(status.code).toBe(0);
  expect(status.stdout).toContain(
    'configured backend: pkcs11, current key "ak-2027" (keys: ak-2027, ak-2026)',
  );
  expect(status.stdout).toMatch(/pkcs11\s+ak-2026\s+v1\s+40/);
  expect(status.stdout).toContain(
    'not on the current key: 40 (authcache keys rotate --to ak-2027)',
  );

  const rotate = await inProcess(['keys', 'rotate', '--to', 'ak-2027', '--schema', schema], env);
  expect(rotate.stderr).toBe('');
  expect(rotate.code).toBe(0);
  expect(rotate.stdout).toContain(
    '40 re-wrapped, 0 already on it, 0 changed meanwhile (run again), 0 failed',
  );

  const { rows } = await pool.query<{ id: string; v: string }>(
    `SELECT access_key_id AS id, secret_ciphertext AS v FROM "${schema}".access_key`,
  );
  expect(rows.every((row) => readHeader(row.v).keyId === 'ak-2027')).toBe(true);
  const verify = await inProcess(['keys', 'status', '--verify', '--schema', schema], {
    ...env,
    AUTHCACHE_PKCS11_RETIRED: '',
  });
  expect(verify.code).toBe(0);
  expect(verify.stdout).toContain('verify: 40 of 40 open');
  expect(`${verify.stdout}${rotate.stdout}${status.stdout}`).not.toContain('1234'); // the PIN

  const wrongToken = await inProcess(['keys', 'status', '--verify', '--schema', schema], {
    ...env,
    AUTHCACHE_PKCS11_TOKEN: 'no-such-token',
  });
  expect(wrongToken.code).toBe(1);
  expect(wrongToken.stderr).toContain('key backend "pkcs11" is unavailable');
  expect(wrongToken.stderr).toContain('no token in token "no-such-token"');
});
