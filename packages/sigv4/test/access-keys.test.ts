import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { type AuthCache, createAuthCache, type InvalidationBus } from '@authcache/core';
import { createPgAccessKeyStore, createPgBus, createPgTokenStore, migrate } from '@authcache/pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAccessKeys,
  createCachedSigV4Verifier,
  createSecretKeyring,
  createSigningKeyCache,
  type SigV4Result,
  withAccessKeys,
} from '../src/index.js';
import { sign } from './sign.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `authcache_sigv4_${process.pid}_${randomBytes(4).toString('hex')}`;
const k1 = randomBytes(32);
const k2 = randomBytes(32);
const unsigned = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };

let pool: pg.Pool;

function code(result: SigV4Result): string {
  return result.ok ? 'ok' : result.error.code;
}

/** Everything one instance of an app builds, over a given database connection. */
function instance(
  db: pg.Pool,
  keys: Record<string, Buffer> = { k1 },
  current = 'k1',
  bus?: InvalidationBus,
) {
  let offset = 0;
  const clock = () => Date.now() + offset;
  const accessKeyStore = createPgAccessKeyStore({ db, schema });
  const auth: AuthCache = createAuthCache({
    store: withAccessKeys(createPgTokenStore({ db, schema }), accessKeyStore),
    ...(bus ? { bus } : {}),
    clock,
    ttl: 60_000,
    negativeTtl: 5_000,
  });
  const ring = createSecretKeyring({ keys, current });
  let opens = 0;
  const keyring = {
    ...ring,
    open(envelope: string, context: string) {
      opens++;
      return ring.open(envelope, context);
    },
  };
  const signingKeyCache = createSigningKeyCache();
  const verifier = createCachedSigV4Verifier({
    auth,
    keyring,
    service: 's3',
    region: 'us-east-1',
    clock,
    signingKeyCache,
  });
  const accessKeys = createAccessKeys({ store: accessKeyStore, keyring, auth, clock });
  return {
    auth,
    verifier,
    accessKeys,
    signingKeyCache,
    clock,
    /** How often a sealed secret was opened. */
    opens: () => opens,
    advance(ms: number) {
      offset += ms;
    },
  };
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
  await migrate(pool, { schema });
});

afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

describe('access keys through the auth cache (real Postgres)', () => {
  it('a key revoked or deleted by plain SQL is refused by another instance within a second (createPgBus)', async () => {
    const quiet = { warn() {} };
    const pools = [0, 1].map(() => {
      const p = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
      p.on('error', () => {});
      return p;
    });
    const [a, b] = pools.map((p) =>
      instance(
        p,
        { k1 },
        'k1',
        createPgBus({ pool: p, schema, logger: quiet, pruneIntervalMs: 0 }),
      ),
    );
    try {
      await Promise.all([a!.auth.ready(), b!.auth.ready()]);
      const verify = async (
        app: typeof a,
        credentials: { accessKeyId: string; secretAccessKey: string },
      ) =>
        code(
          await app!.verifier.verify(
            await sign({ headers: unsigned, credentials, date: app!.clock() }),
          ),
        );
      const refusedWithin = async (
        app: typeof a,
        credentials: { accessKeyId: string; secretAccessKey: string },
      ) => {
        const deadline = Date.now() + 1_000;
        while ((await verify(app, credentials)) === 'ok') {
          if (Date.now() > deadline) throw new Error('still accepted a second after the change');
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return verify(app, credentials);
      };
      for (const change of [
        `UPDATE "${schema}".access_key SET revoked = true WHERE access_key_id = $1`,
        `DELETE FROM "${schema}".access_key WHERE access_key_id = $1`,
      ]) {
        const key = await a!.accessKeys.createAccessKey({ principalId: 'user-sql' });
        const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
        expect(await verify(a, credentials)).toBe('ok');
        expect(await verify(b, credentials)).toBe('ok'); // cached on both
        await pool.query(change, [key.accessKeyId]);
        expect(await refusedWithin(b, credentials)).toBe('InvalidAccessKeyId');
        expect(await refusedWithin(a, credentials)).toBe('InvalidAccessKeyId');
      }
    } finally {
      await Promise.all([a!.auth.close(), b!.auth.close()]);
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('creates an AKIA key that verifies, stores only a sealed secret, and caches the lookup', async () => {
    const app = instance(pool);
    const key = await app.accessKeys.createAccessKey({ principalId: 'user-1' });
    expect(key.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(key.secretAccessKey).toHaveLength(40);

    const { rows } = await pool.query(
      `SELECT * FROM "${schema}".access_key WHERE access_key_id = $1`,
      [key.accessKeyId],
    );
    expect(rows[0].secret_ciphertext).toMatch(/^v1\.k1\./);
    expect(JSON.stringify(rows[0])).not.toContain(key.secretAccessKey);

    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    const first = await app.verifier.verify(
      await sign({ headers: unsigned, credentials, date: app.clock() }),
    );
    if (!first.ok) throw first.error;
    expect(first.principal.subject).toBe('user-1');
    expect(first.principal.kind).toBe('sigv4');
    expect(JSON.stringify(first.principal)).not.toContain(key.secretAccessKey);
    const second = await app.verifier.verify(
      await sign({ headers: unsigned, credentials, date: app.clock() }),
    );
    expect(code(second)).toBe('ok');
    expect(app.auth.stats()).toMatchObject({ storeQueries: 1, hits: 1 });
    expect(app.signingKeyCache.stats()).toMatchObject({ misses: 1, hits: 1 });
    // The secret was opened once, to derive the signing key; the second request did not need it.
    expect(app.opens()).toBe(1);

    const wrongSecret = await app.verifier.verify(
      await sign({
        headers: unsigned,
        credentials: { ...credentials, secretAccessKey: 'x'.repeat(40) },
        date: app.clock(),
      }),
    );
    expect(code(wrongSecret)).toBe('SignatureDoesNotMatch');
    await app.auth.close();
  });

  it('remembers unknown ids briefly and never looks up malformed ones', async () => {
    const app = instance(pool);
    const credentials = {
      accessKeyId: 'AKIAAAAAAAAAAAAAAAAA',
      secretAccessKey: 'whatever-secret-000000',
    };
    for (let i = 0; i < 3; i++) {
      expect(
        code(
          await app.verifier.verify(
            await sign({ headers: unsigned, credentials, date: app.clock() }),
          ),
        ),
      ).toBe('InvalidAccessKeyId');
    }
    expect(app.auth.stats()).toMatchObject({ storeQueries: 1, negativeHits: 2 });
    const garbage = { accessKeyId: 'not-one-of-ours', secretAccessKey: 'x' };
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials: garbage, date: app.clock() }),
        ),
      ),
    ).toBe('InvalidAccessKeyId');
    expect(app.auth.stats().storeQueries).toBe(1);
    await app.auth.close();
  });

  it('session credentials verify with their token and drop out at expiry, even from cache', async () => {
    const app = instance(pool);
    const session = await app.accessKeys.createSessionCredentials({
      principalId: 'user-2',
      durationSeconds: 900,
    });
    expect(session.accessKeyId).toMatch(/^ASIA/);
    const { rows } = await pool.query(
      `SELECT session_token_hash FROM "${schema}".access_key WHERE access_key_id = $1`,
      [session.accessKeyId],
    );
    expect(rows[0].session_token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].session_token_hash).not.toBe(session.sessionToken);

    const credentials = {
      accessKeyId: session.accessKeyId,
      secretAccessKey: session.secretAccessKey,
      sessionToken: session.sessionToken,
    };
    const ok = await app.verifier.verify(
      await sign({ headers: unsigned, credentials, date: app.clock() }),
    );
    if (!ok.ok) throw ok.error;
    expect(ok.session).toBe(true);
    expect(ok.expiresAt).toBe(session.expiresAt.getTime());
    // What lands on req.auth carries neither the sealed secret nor the session-token hash.
    expect(ok.principal.attributes).toEqual({});
    expect(JSON.stringify(ok.principal)).not.toContain(rows[0].session_token_hash);

    const badToken = { ...credentials, sessionToken: 'forged' };
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials: badToken, date: app.clock() }),
        ),
      ),
    ).toBe('InvalidToken');
    const noToken = {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
    };
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials: noToken, date: app.clock() }),
        ),
      ),
    ).toBe('InvalidToken');

    app.advance(15 * 60_000);
    const late = await app.verifier.verify(
      await sign({ headers: unsigned, credentials, date: app.clock() }),
    );
    expect(code(late)).toBe('ExpiredToken');
    await app.auth.close();
  });

  it('revoke takes effect at once and purges the derived signing keys', async () => {
    const app = instance(pool);
    const key = await app.accessKeys.createAccessKey({ principalId: 'user-3' });
    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials, date: app.clock() }),
        ),
      ),
    ).toBe('ok');
    expect(app.signingKeyCache.stats().size).toBe(1);
    expect(await app.accessKeys.revoke(key.accessKeyId, { principalId: 'someone-else' })).toBe(
      false,
    );
    expect(await app.accessKeys.revoke(key.accessKeyId, { principalId: 'user-3' })).toBe(true);
    expect(app.signingKeyCache.stats().size).toBe(0);
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials, date: app.clock() }),
        ),
      ),
    ).toBe('InvalidAccessKeyId');
    expect(await app.accessKeys.revoke(key.accessKeyId)).toBe(false);
    await app.auth.close();
  });

  it('rotates the encryption key: rewrap re-seals, and the old key can then be retired', async () => {
    const before = instance(pool, { k1 }, 'k1');
    const key = await before.accessKeys.createAccessKey({ principalId: 'user-4' });
    const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    await before.auth.close();

    const during = instance(pool, { k1, k2 }, 'k2');
    expect(
      code(
        await during.verifier.verify(
          await sign({ headers: unsigned, credentials, date: during.clock() }),
        ),
      ),
    ).toBe('ok');
    const result = await during.accessKeys.rewrap();
    expect(result.rewrapped).toBeGreaterThanOrEqual(1);
    const { rows } = await pool.query(
      `SELECT secret_ciphertext FROM "${schema}".access_key WHERE access_key_id = $1`,
      [key.accessKeyId],
    );
    expect(rows[0].secret_ciphertext).toMatch(/^v1\.k2\./);
    expect((await during.accessKeys.rewrap()).rewrapped).toBe(0);
    await during.auth.close();

    const after = instance(pool, { k2 }, 'k2');
    expect(
      code(
        await after.verifier.verify(
          await sign({ headers: unsigned, credentials, date: after.clock() }),
        ),
      ),
    ).toBe('ok');
    await after.auth.close();

    // A ring without the sealing key cannot open the secret: a server error, never a pass.
    const lost = instance(pool, { k1 }, 'k1');
    expect(
      code(
        await lost.verifier.verify(
          await sign({ headers: unsigned, credentials, date: lost.clock() }),
        ),
      ),
    ).toBe('InternalError');
    await lost.auth.close();
  });

  it('a sealed secret copied onto another key does not open', async () => {
    const app = instance(pool);
    const a = await app.accessKeys.createAccessKey({ principalId: 'user-5' });
    const b = await app.accessKeys.createAccessKey({ principalId: 'user-6' });
    await pool.query(
      `UPDATE "${schema}".access_key SET secret_ciphertext = (SELECT secret_ciphertext FROM "${schema}".access_key WHERE access_key_id = $1) WHERE access_key_id = $2`,
      [a.accessKeyId, b.accessKeyId],
    );
    const credentials = { accessKeyId: b.accessKeyId, secretAccessKey: a.secretAccessKey };
    expect(
      code(
        await app.verifier.verify(
          await sign({ headers: unsigned, credentials, date: app.clock() }),
        ),
      ),
    ).toBe('InternalError');
    await app.auth.close();
  });

  it('a database outage is ServiceUnavailable (503), never a refusal or a pass', async () => {
    const target = new URL(DATABASE_URL);
    const sockets = new Set<net.Socket>();
    let cut = false;
    const proxy = net.createServer((client) => {
      if (cut) return client.destroy();
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => {}).on('close', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String((proxy.address() as net.AddressInfo).port);
    const proxied = new pg.Pool({
      connectionString: url.toString(),
      max: 2,
      connectionTimeoutMillis: 2_000,
    });
    proxied.on('error', () => {});
    try {
      const app = instance(proxied);
      const key = await app.accessKeys.createAccessKey({ principalId: 'user-7' });
      const credentials = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
      cut = true;
      for (const s of sockets) s.destroy();
      const result = await app.verifier.verify(
        await sign({ headers: unsigned, credentials, date: app.clock() }),
      );
      expect(code(result)).toBe('ServiceUnavailable');
      if (!result.ok) expect(result.error.status).toBe(503);
      await app.auth.close();
    } finally {
      await proxied.end().catch(() => {});
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe('secret keyring', () => {
  it('seals with AES-256-GCM bound to a context, refusing altered envelopes', () => {
    const keyring = createSecretKeyring({ keys: { k1 } });
    const envelope = keyring.seal('s3cr3t', 'AKIAEXAMPLE');
    expect(envelope).not.toContain('s3cr3t');
    expect(keyring.seal('s3cr3t', 'AKIAEXAMPLE')).not.toBe(envelope);
    expect(keyring.open(envelope, 'AKIAEXAMPLE')).toBe('s3cr3t');
    expect(() => keyring.open(envelope, 'AKIAOTHER')).toThrow(/authentication/);
    const parts = envelope.split('.');
    parts[3] = Buffer.from('s3cr3u').toString('base64url');
    expect(() => keyring.open(parts.join('.'), 'AKIAEXAMPLE')).toThrow(/authentication/);
    expect(() => keyring.open('plaintext', 'AKIAEXAMPLE')).toThrow(/not a secret envelope/);
    expect(() => createSecretKeyring({ keys: { k1: randomBytes(16) } })).toThrow(TypeError);
    expect(() => createSecretKeyring({ keys: { k1, k2 } })).toThrow(/current/);
    expect(
      createSecretKeyring({ keys: { k1: k1.toString('base64') } }).open(envelope, 'AKIAEXAMPLE'),
    ).toBe('s3cr3t');
  });
});
