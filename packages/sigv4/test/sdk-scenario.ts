/**
 * One scenario of the real AWS SDK (S3 client, presigner, DynamoDB client) against an HTTP server,
 * shared by the node:http test here and the express, koa and hono adapter tests. The server under
 * test mounts SigV4 verification with `fixture.s3Options` / `fixture.dynamoOptions` and answers
 * through `fixture.s3` / `fixture.dynamo` (the examples' path-style in-memory bucket from
 * examples/shared/src/s3.ts, served at the root; a ListTables endpoint).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type AuthCache, createAuthCache } from '@authcache/core';
import { createPgAccessKeyStore, createPgTokenStore, migrate } from '@authcache/pg';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Not a dependency of the package (that would be a cycle): the bucket the example apps serve,
// framework-free, so that this scenario and the examples' smoke suite drive the same S3 code.
import { createS3Bucket, type S3Request } from '../../../examples/shared/src/s3.js';
import {
  type AccessKeys,
  type CachedSigV4VerifierOptions,
  createAccessKeys,
  createSecretKeyring,
  type SecretKeyring,
  type SigV4Payload,
  withAccessKeys,
} from '../src/index.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** What an app answers: status, headers, body. */
export interface PlainResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

export interface SdkFixture {
  auth: AuthCache;
  keyring: SecretKeyring;
  accessKeys: AccessKeys;
  /** The server's clock (tests move it); apps must also send it as the `Date` header. */
  clock: () => number;
  s3Options: CachedSigV4VerifierOptions;
  dynamoOptions: CachedSigV4VerifierOptions;
  /**
   * The examples' S3 bucket (`createS3Bucket`), mounted at the root: `body` must yield the
   * verified body (it may throw a SigV4Error); `payload` is the verified request's payload kind.
   */
  s3(request: S3Request & { payload: SigV4Payload }): Promise<PlainResponse>;
  dynamo(subject: string): PlainResponse;
}

export interface ServerUnderTest {
  endpoint: string;
  close(): Promise<void>;
}

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return (error as Error).name;
  }
}

/** Registers the scenario's tests for the server `start` builds. */
export function sdkScenario(
  label: string,
  start: (fixture: SdkFixture) => Promise<ServerUnderTest>,
): void {
  const schema = `authcache_sdk_${process.pid}_${randomBytes(4).toString('hex')}`;
  let pool: pg.Pool;
  let fixture: SdkFixture;
  let server: ServerUnderTest;
  let offset = 0;
  const payloads: Array<{ key: string; payload: string }> = [];

  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
    pool.on('error', () => {});
    await migrate(pool, { schema });
    const clock = () => Date.now() + offset;
    const accessKeyStore = createPgAccessKeyStore({ db: pool, schema });
    const auth = createAuthCache({
      store: withAccessKeys(createPgTokenStore({ db: pool, schema }), accessKeyStore),
      clock,
    });
    const keyring = createSecretKeyring({ keys: { main: randomBytes(32) } });
    // The examples' in-memory bucket, served at the root (`/<bucket>/<key>`).
    const bucket = createS3Bucket({ mount: '', clock });
    fixture = {
      auth,
      keyring,
      clock,
      accessKeys: createAccessKeys({ store: accessKeyStore, keyring, auth, clock }),
      s3Options: { auth, keyring, service: 's3', region: 'us-east-1', clock },
      dynamoOptions: { auth, keyring, service: 'dynamodb', region: 'us-east-1', clock },
      async s3({ payload, ...request }): Promise<PlainResponse> {
        // Recorded for the assertions on how the SDK signed each upload's body.
        if (request.method === 'PUT') {
          const path = request.rawUrl.split('?')[0]!;
          payloads.push({
            key: decodeURIComponent(path.split('/').slice(2).join('/')),
            payload:
              payload.type === 'streaming'
                ? `streaming:${payload.signed ? 'signed' : 'unsigned'}:${payload.trailerNames.join(',')}`
                : payload.type,
          });
        }
        const answer = await bucket.handle(request);
        return { status: answer.status, headers: answer.headers, body: answer.body ?? '' };
      },
      dynamo(subject) {
        return {
          status: 200,
          headers: { 'content-type': 'application/x-amz-json-1.0' },
          body: JSON.stringify({ TableNames: [`tables-of-${subject}`] }),
        };
      },
    };
    server = await start(fixture);
  });

  afterAll(async () => {
    await server?.close();
    await fixture?.auth.close();
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });

  const s3Client = (
    credentials: S3ClientConfig['credentials'],
    extra: Partial<S3ClientConfig> = {},
  ) =>
    new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
      ...extra,
    });

  describe(`the real AWS SDK against ${label}`, () => {
    it('PutObject (buffer and stream), GetObject and ListObjectsV2 with a long-lived key', async () => {
      const key = await fixture.accessKeys.createAccessKey({ principalId: 'alice' });
      const client = s3Client(key);
      await client.send(
        new PutObjectCommand({
          Bucket: 'bucket',
          Key: 'notes/hello world.txt',
          Body: Buffer.from('hello from a buffer'),
        }),
      );
      const streamed = Buffer.alloc(200_000, 'z');
      await client.send(
        new PutObjectCommand({
          Bucket: 'bucket',
          Key: 'notes/streamed ✓.bin',
          Body: Readable.from([streamed.subarray(0, 70_000), streamed.subarray(70_000)]),
          ContentLength: streamed.length,
        }),
      );
      // The buffer upload signs its SHA-256; the stream upload is aws-chunked with a CRC32 trailer.
      expect(payloads.slice(-2)).toEqual([
        { key: 'notes/hello world.txt', payload: 'sha256' },
        { key: 'notes/streamed ✓.bin', payload: 'streaming:unsigned:x-amz-checksum-crc32' },
      ]);
      const got = await client.send(
        new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/hello world.txt' }),
      );
      expect(await got.Body!.transformToString()).toBe('hello from a buffer');
      expect(got.Metadata).toEqual({ owner: 'alice' });
      const gotStream = await client.send(
        new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/streamed ✓.bin' }),
      );
      expect(Buffer.from(await gotStream.Body!.transformToByteArray()).equals(streamed)).toBe(true);
      const list = await client.send(
        new ListObjectsV2Command({ Bucket: 'bucket', Prefix: 'notes/' }),
      );
      expect(list.Contents?.map((c) => c.Key).sort()).toEqual([
        'notes/hello world.txt',
        'notes/streamed ✓.bin',
      ]);
      client.destroy();
    });

    it('presigned GET and PUT URLs work with plain fetch and expire', async () => {
      const key = await fixture.accessKeys.createAccessKey({ principalId: 'bob' });
      const client = s3Client(key);
      const putUrl = await getSignedUrl(
        client,
        new PutObjectCommand({ Bucket: 'bucket', Key: 'presigned.txt' }),
        { expiresIn: 60 },
      );
      expect(
        (await fetch(putUrl, { method: 'PUT', body: 'uploaded through a presigned URL' })).status,
      ).toBe(200);
      const getUrl = await getSignedUrl(
        client,
        new GetObjectCommand({ Bucket: 'bucket', Key: 'presigned.txt' }),
        { expiresIn: 60 },
      );
      const get = await fetch(getUrl);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('uploaded through a presigned URL');
      const tampered = await fetch(getUrl.replace('presigned.txt', 'other.txt'));
      expect(tampered.status).toBe(403);
      expect(await tampered.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      offset = 61_000;
      try {
        const expired = await fetch(getUrl);
        expect(expired.status).toBe(403);
        expect(await expired.text()).toContain('Request has expired');
      } finally {
        offset = 0;
      }
      client.destroy();
    });

    it('session credentials work; an expired session is ExpiredToken, a forged token InvalidToken', async () => {
      const session = await fixture.accessKeys.createSessionCredentials({
        principalId: 'carol',
        durationSeconds: 900,
      });
      const client = s3Client(session);
      await client.send(
        new PutObjectCommand({ Bucket: 'bucket', Key: 'session.txt', Body: 'temp' }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' }));
      expect(got.Metadata).toEqual({ owner: 'carol' });
      const presigned = await getSignedUrl(
        client,
        new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' }),
        { expiresIn: 60 },
      );
      expect((await fetch(presigned)).status).toBe(200);
      client.destroy();
      // 16 minutes later, on both clocks (so the failure is the expiry, not skew).
      offset = 16 * 60_000;
      try {
        const later = s3Client(session, { systemClockOffset: offset });
        expect(
          await errorName(
            later.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' })),
          ),
        ).toBe('ExpiredToken');
        later.destroy();
      } finally {
        offset = 0;
      }
      const forged = s3Client({ ...session, sessionToken: 'forged-token' });
      expect(
        await errorName(
          forged.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' })),
        ),
      ).toBe('InvalidToken');
      forged.destroy();
    });

    it('wrong secret, unknown key and clock skew give the error names SDK users expect', async () => {
      const key = await fixture.accessKeys.createAccessKey({ principalId: 'dave' });
      const get = new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/hello world.txt' });
      const wrong = s3Client({ ...key, secretAccessKey: 'W'.repeat(40) });
      expect(await errorName(wrong.send(get))).toBe('SignatureDoesNotMatch');
      const unknown = s3Client({
        accessKeyId: 'AKIAAAAAAAAAAAAAAAAA',
        secretAccessKey: key.secretAccessKey,
      });
      expect(await errorName(unknown.send(get))).toBe('InvalidAccessKeyId');
      // The client machine's clock is 30 minutes behind the server's.
      offset = 30 * 60_000;
      const skewed = s3Client(key);
      const corrected = s3Client(key, { maxAttempts: 3 });
      try {
        expect(await errorName(skewed.send(get))).toBe('RequestTimeTooSkewed');
        // With retries, the SDK corrects its clock from the Date header and succeeds.
        expect(await errorName(corrected.send(get))).toBe('no error');
      } finally {
        offset = 0;
      }
      for (const client of [wrong, unknown, skewed, corrected]) client.destroy();
    });

    it('a DynamoDB JSON call, with JSON-protocol error names', async () => {
      const key = await fixture.accessKeys.createAccessKey({ principalId: 'erin' });
      const dynamo = (credentials: typeof key) =>
        new DynamoDBClient({
          endpoint: server.endpoint,
          region: 'us-east-1',
          credentials,
          maxAttempts: 1,
        });
      const client = dynamo(key);
      expect((await client.send(new ListTablesCommand({ Limit: 5 }))).TableNames).toEqual([
        'tables-of-erin',
      ]);
      const wrong = dynamo({ ...key, secretAccessKey: 'W'.repeat(40) });
      expect(await errorName(wrong.send(new ListTablesCommand({})))).toBe(
        'InvalidSignatureException',
      );
      const unknown = dynamo({ ...key, accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' });
      expect(await errorName(unknown.send(new ListTablesCommand({})))).toBe(
        'UnrecognizedClientException',
      );
      for (const c of [client, wrong, unknown]) c.destroy();
    });

    it('bad input over real HTTP is a 4xx with a Date header, never a 5xx', async () => {
      const cases: Array<[Record<string, string>, number]> = [
        [{ authorization: 'AWS4-HMAC-SHA256 Credential=' }, 400],
        [{ authorization: 'garbage' }, 400],
        [{}, 403],
      ];
      for (const [headers, status] of cases) {
        const response = await fetch(`${server.endpoint}/bucket/key`, { headers });
        expect(response.status).toBe(status);
        expect(response.headers.get('date')).toBeTruthy();
      }
      // Over node's default 16 KiB header limit: refused by the HTTP server itself.
      const huge = await fetch(`${server.endpoint}/bucket/key`, {
        headers: { 'x-big': 'a'.repeat(64 * 1024) },
      });
      expect(huge.status).toBe(431);
      const query = await fetch(
        `${server.endpoint}/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=9999999`,
      );
      expect(query.status).toBe(400);
      expect(await query.text()).toContain('AuthorizationQueryParametersError');
    });
  });
}
