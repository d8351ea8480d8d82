/**
 * The access-key round trip with the wrapping key in SoftHSM2: secrets sealed by the token,
 * resolved through the auth cache, real AWS SDK requests verified; the database holds nothing
 * that opens without the token; an HSM outage fails only cold keys (503).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AuthCache, createAuthCache } from '@authcache/core';
import { createPgAccessKeyStore, createPgTokenStore, migrate } from '@authcache/pg';
import {
  createSealedKeyring,
  createSealer,
  type KeyBackend,
  KeyBackendUnavailableError,
  readHeader,
} from '@authcache/seal';
import { pkcs11Key } from '@authcache/seal/pkcs11';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Bucket } from '../../../examples/shared/src/s3.js';
// The private SoftHSM2 token helper of @authcache/seal's tests.
import { createSoftHsm, SOFTHSM_MODULE, type SoftHsm } from '../../seal/test/softhsm.js';
import {
  type AccessKeys,
  createAccessKeys,
  createCachedSigV4Verifier,
  createSecretKeyring,
  verifiedNodeBody,
  verifyNodeRequest,
  withAccessKeys,
  writeSigV4Error,
} from '../src/index.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `authcache_seal_hsm_${process.pid}_${randomBytes(4).toString('hex')}`;

let hsm: SoftHsm;
let pool: pg.Pool;
let server: Server;
let endpoint: string;
let auth: AuthCache;
let accessKeys: AccessKeys;
let hsmKey: KeyBackend;
/** The backend the server uses: the HSM, switchable off to play an outage. */
let outage = false;
const legacy = createSecretKeyring({ keys: { env: randomBytes(32) } });

beforeAll(async () => {
  hsm = createSoftHsm('authcache-prod');
  hsm.initToken('authcache-other');
  hsm.generate('access-keys');
  // Same key label on another token: a different key, as a copied config on another box would have.
  hsm.generate('access-keys', 'aes-256', 'authcache-other');
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
  await migrate(pool, { schema });
  hsmKey = pkcs11Key({
    module: SOFTHSM_MODULE,
    slot: { tokenLabel: 'authcache-prod' },
    pin: { file: hsm.pinFile },
    label: 'access-keys',
  });
  await hsmKey.open!(); // start-up: fails loudly, naming the backend, if the token is not there
  const backend: KeyBackend = {
    tag: hsmKey.tag,
    currentKeyId: hsmKey.currentKeyId,
    describe: () => hsmKey.describe(),
    wrapKey: (k, id) =>
      outage
        ? Promise.reject(new KeyBackendUnavailableError('pkcs11', 'unplugged'))
        : hsmKey.wrapKey(k, id),
    unwrapKey: (k, id) =>
      outage
        ? Promise.reject(new KeyBackendUnavailableError('pkcs11', 'unplugged'))
        : hsmKey.unwrapKey(k, id),
  };
  const keyring = createSealedKeyring({ sealer: createSealer({ backend }), legacy });
  const store = createPgAccessKeyStore({ db: pool, schema });
  auth = createAuthCache({
    store: withAccessKeys(createPgTokenStore({ db: pool, schema }), store),
  });
  accessKeys = createAccessKeys({ store, keyring, auth });
  const verifier = createCachedSigV4Verifier({ auth, keyring, service: 's3', region: 'us-east-1' });
  const bucket = createS3Bucket({ mount: '' });
  server = createServer(async (req, res) => {
    try {
      const result = await verifyNodeRequest(verifier, req);
      if (!result.ok)
        return writeSigV4Error(res, result.error, { method: req.method, resource: req.url });
      const answer = await bucket.handle({
        method: req.method!,
        rawUrl: req.url!,
        headers: req.headers,
        auth: { ...result.principal, path: 'sigv4' },
        body: () => verifiedNodeBody(req, result),
      });
      res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
    } catch (error) {
      writeSigV4Error(res, error);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await auth?.close();
  await hsmKey?.close?.();
  await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool?.end();
  hsm?.cleanup();
});

const client = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
  new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
  });

async function putAndGet(
  credentials: { accessKeyId: string; secretAccessKey: string },
  key: string,
) {
  const s3 = client(credentials);
  try {
    await s3.send(new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: `body of ${key}` }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: key }));
    return await got.Body!.transformToString();
  } finally {
    s3.destroy();
  }
}

async function statusOf(credentials: { accessKeyId: string; secretAccessKey: string }) {
  const s3 = client(credentials);
  try {
    await s3.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'nothing-here' }));
    return 200;
  } catch (error) {
    return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  } finally {
    s3.destroy();
  }
}

describe('SigV4 access keys sealed by a SoftHSM2 token', () => {
  it('the real AWS SDK signs, the verifier opens the secret through the token', async () => {
    const key = await accessKeys.createAccessKey({ principalId: 'alice' });
    expect(await putAndGet(key, 'hello.txt')).toBe('body of hello.txt');
    const { rows } = await pool.query(
      `SELECT secret_ciphertext FROM "${schema}".access_key WHERE access_key_id = $1`,
      [key.accessKeyId],
    );
    const header = readHeader(rows[0].secret_ciphertext);
    expect(header).toMatchObject({ version: 1, backend: 'pkcs11', keyId: 'access-keys' });
  });

  it('the database holds nothing that opens without the token', async () => {
    const key = await accessKeys.createAccessKey({ principalId: 'carol' });
    const dump = await pool.query(
      `SELECT row_to_json(a)::text AS row FROM "${schema}".access_key a`,
    );
    const text = dump.rows.map((r) => r.row).join('\n');
    expect(text).not.toContain(key.secretAccessKey);
    expect(text).not.toContain(Buffer.from(key.secretAccessKey).toString('base64'));
    const { rows } = await pool.query(
      `SELECT secret_ciphertext FROM "${schema}".access_key WHERE access_key_id = $1`,
      [key.accessKeyId],
    );
    const envelope: string = rows[0].secret_ciphertext;
    // The same configuration pointed at another token whose key has the same label does not open it.
    const other = pkcs11Key({
      module: SOFTHSM_MODULE,
      slot: { tokenLabel: 'authcache-other' },
      pin: { file: hsm.pinFile },
      label: 'access-keys',
    });
    const context = { table: 'access_key', column: 'secret_ciphertext', rowId: key.accessKeyId };
    await expect(createSealer({ backend: other }).openText(envelope, context)).rejects.toThrow(
      /did not unwrap the data key/,
    );
    await other.close!();
    // Nor does the old environment-variable key.
    expect(() => legacy.open(envelope, key.accessKeyId)).toThrow();
  });

  it('old keyring rows keep working and rewrap() moves them into the token', async () => {
    const oldKeys = createAccessKeys({
      store: createPgAccessKeyStore({ db: pool, schema }),
      keyring: legacy,
    });
    const key = await oldKeys.createAccessKey({ principalId: 'dave' });
    expect(await putAndGet(key, 'legacy.txt')).toBe('body of legacy.txt');
    const result = await accessKeys.rewrap();
    expect(result.rewrapped).toBe(1);
    const { rows } = await pool.query(
      `SELECT secret_ciphertext FROM "${schema}".access_key WHERE access_key_id = $1`,
      [key.accessKeyId],
    );
    expect(readHeader(rows[0].secret_ciphertext).backend).toBe('pkcs11');
    expect(await putAndGet(key, 'legacy-after.txt')).toBe('body of legacy-after.txt');
  });

  it('HSM outage: warm keys keep working, cold keys answer 503 (never 401), then recover', async () => {
    const warm = await accessKeys.createAccessKey({ principalId: 'erin' });
    const cold = await accessKeys.createAccessKey({ principalId: 'frank' });
    expect(await statusOf(warm)).toBe(404); // verified; the object does not exist
    outage = true;
    try {
      expect(await statusOf(warm)).toBe(404);
      expect(await statusOf(cold)).toBe(503);
    } finally {
      outage = false;
    }
    expect(await statusOf(cold)).toBe(404);
  });
});
