import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type AuthCache, createAuthCache, type Identity } from '@authcache/core';
import { migrate, pgAccessKeyStore, pgTokenStore } from '@authcache/pg';
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
import {
  type AccessKeys,
  createAccessKeys,
  createCachedSigV4Verifier,
  createSecretKeyring,
  readNodeBody,
  type SigV4Verifier,
  sigv4RequestFromNode,
  verifiedNodeBody,
  withAccessKeys,
  writeSigV4Error,
} from '../src/index.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `authcache_sigv4sdk_${process.pid}_${randomBytes(4).toString('hex')}`;

let pool: pg.Pool;
let auth: AuthCache;
let accessKeys: AccessKeys;
let s3: SigV4Verifier<Identity>;
let dynamo: SigV4Verifier<Identity>;
let server: Server;
let endpoint: string;
/** Server-side clock offset, moved by the expiry test. */
let serverOffset = 0;
const serverClock = () => Date.now() + serverOffset;
/** How each upload's payload was signed, to show which paths the SDK exercised. */
const payloads: Array<{ key: string; payload: string; form: string }> = [];
const objects = new Map<string, { body: Buffer; etag: string; modified: Date; owner: string }>();

function xmlEscape(value: string): string {
  return value.replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'));
}

/** A path-style S3 subset (PutObject, GetObject, ListObjectsV2) on one in-memory bucket. */
async function handleS3(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const result = await s3.verify(sigv4RequestFromNode(req));
  if (!result.ok)
    return writeSigV4Error(res, result.error, {
      method: req.method,
      resource: req.url,
      now: serverClock(),
    });
  const url = new URL(req.url!, 'http://localhost');
  const [, bucket, ...rest] = url.pathname.split('/');
  const key = rest.map(decodeURIComponent).join('/');
  if (req.method === 'PUT' && key) {
    payloads.push({
      key,
      payload:
        result.payload.type === 'streaming'
          ? `streaming:${result.payload.signed ? 'signed' : 'unsigned'}:${result.payload.trailerNames.join(',')}`
          : result.payload.type,
      form: result.form,
    });
    let body: Buffer;
    try {
      body = await readNodeBody(verifiedNodeBody(req, result), 64 * 1024 * 1024);
    } catch (error) {
      return writeSigV4Error(res, error, { resource: req.url });
    }
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    objects.set(`${bucket}/${key}`, {
      body,
      etag,
      modified: new Date(),
      owner: result.principal.subject,
    });
    res.writeHead(200, { etag });
    return void res.end();
  }
  if (req.method === 'GET' && key) {
    const object = objects.get(`${bucket}/${key}`);
    if (!object) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return void res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
      );
    }
    res.writeHead(200, {
      'content-length': object.body.length,
      etag: object.etag,
      'last-modified': object.modified.toUTCString(),
      'x-amz-meta-owner': object.owner,
    });
    return void res.end(object.body);
  }
  if (req.method === 'GET' && url.searchParams.get('list-type') === '2') {
    const prefix = url.searchParams.get('prefix') ?? '';
    const entries = [...objects].filter(([k]) => k.startsWith(`${bucket}/${prefix}`));
    const contents = entries
      .map(
        ([k, o]) =>
          `<Contents><Key>${xmlEscape(k.slice(bucket!.length + 1))}</Key><LastModified>${o.modified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('');
    res.writeHead(200, { 'content-type': 'application/xml' });
    return void res.end(
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucket}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${entries.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
    );
  }
  res.writeHead(405).end();
}

/** A DynamoDB-style JSON endpoint: the body is read first, its hash is part of the signature. */
async function handleDynamo(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: Buffer;
  try {
    body = await readNodeBody(req);
  } catch (error) {
    return writeSigV4Error(res, error, { protocol: 'json' });
  }
  const result = await dynamo.verify(sigv4RequestFromNode(req, body));
  if (!result.ok)
    return writeSigV4Error(res, result.error, { protocol: 'json', now: serverClock() });
  res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(JSON.stringify({ TableNames: [`tables-of-${result.principal.subject}`] }));
}

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => {});
  await migrate(pool, { schema });
  const accessKeyStore = pgAccessKeyStore({ db: pool, schema });
  auth = createAuthCache({
    store: withAccessKeys(pgTokenStore({ db: pool, schema }), accessKeyStore),
    clock: serverClock,
  });
  const keyring = createSecretKeyring({ keys: { main: randomBytes(32) } });
  accessKeys = createAccessKeys({ store: accessKeyStore, keyring, auth, clock: serverClock });
  s3 = createCachedSigV4Verifier({
    auth,
    keyring,
    service: 's3',
    region: 'us-east-1',
    clock: serverClock,
  });
  dynamo = createCachedSigV4Verifier({
    auth,
    keyring,
    service: 'dynamodb',
    region: 'us-east-1',
    clock: serverClock,
  });
  server = createServer((req, res) => {
    // node's automatic Date uses the real clock; this server's clock may be moved by a test.
    res.setHeader('date', new Date(serverClock()).toUTCString());
    const handler = req.headers['x-amz-target'] ? handleDynamo : handleS3;
    handler(req, res).catch((error) => writeSigV4Error(res, error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await auth.close();
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

function s3Client(credentials: Credentials, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    ...extra,
  });
}

async function errorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return (error as Error).name;
  }
}

describe('the real AWS SDK against a node:http server using the verifier', () => {
  it('PutObject (buffer and stream), GetObject and ListObjectsV2 with a long-lived key', async () => {
    const key = await accessKeys.createAccessKey({ principalId: 'alice' });
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
    const got = await client.send(
      new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/hello world.txt' }),
    );
    expect(await got.Body!.transformToString()).toBe('hello from a buffer');
    expect(got.Metadata).toEqual({ owner: 'alice' });
    const gotStream = await client.send(
      new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/streamed ✓.bin' }),
    );
    expect(Buffer.from(await gotStream.Body!.transformToByteArray()).equals(streamed)).toBe(true);
    // The buffer upload signs its SHA-256; the stream upload is aws-chunked with a CRC32 trailer.
    expect(payloads.slice(-2)).toEqual([
      { key: 'notes/hello world.txt', payload: 'sha256', form: 'header' },
      {
        key: 'notes/streamed ✓.bin',
        payload: 'streaming:unsigned:x-amz-checksum-crc32',
        form: 'header',
      },
    ]);
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
    const key = await accessKeys.createAccessKey({ principalId: 'bob' });
    const client = s3Client(key);
    const putUrl = await getSignedUrl(
      client,
      new PutObjectCommand({ Bucket: 'bucket', Key: 'presigned.txt' }),
      { expiresIn: 60 },
    );
    const put = await fetch(putUrl, { method: 'PUT', body: 'uploaded through a presigned URL' });
    expect(put.status).toBe(200);
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

    serverOffset = 61_000;
    try {
      const expired = await fetch(getUrl);
      expect(expired.status).toBe(403);
      expect(expired.headers.get('date')).toBeTruthy();
      expect(await expired.text()).toContain('Request has expired');
    } finally {
      serverOffset = 0;
    }
    client.destroy();
  });

  it('session credentials work, and an expired session is ExpiredToken', async () => {
    const session = await accessKeys.createSessionCredentials({
      principalId: 'carol',
      durationSeconds: 900,
    });
    const client = s3Client(session);
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'session.txt', Body: 'temp' }));
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
    serverOffset = 16 * 60_000;
    try {
      const later = s3Client(session, { systemClockOffset: serverOffset });
      expect(
        await errorName(later.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' }))),
      ).toBe('ExpiredToken');
      later.destroy();
    } finally {
      serverOffset = 0;
    }
    const forged = s3Client({ ...session, sessionToken: 'forged-token' });
    expect(
      await errorName(forged.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'session.txt' }))),
    ).toBe('InvalidToken');
    forged.destroy();
  });

  it('wrong secret, unknown key and clock skew give the names the SDK users expect', async () => {
    const key = await accessKeys.createAccessKey({ principalId: 'dave' });
    const get = new GetObjectCommand({ Bucket: 'bucket', Key: 'notes/hello world.txt' });
    const wrong = s3Client({ ...key, secretAccessKey: 'W'.repeat(40) });
    expect(await errorName(wrong.send(get))).toBe('SignatureDoesNotMatch');
    const unknown = s3Client({
      accessKeyId: 'AKIAAAAAAAAAAAAAAAAA',
      secretAccessKey: key.secretAccessKey,
    });
    expect(await errorName(unknown.send(get))).toBe('InvalidAccessKeyId');
    // The client machine's clock is 30 minutes behind the server's.
    serverOffset = 30 * 60_000;
    let skewed: S3Client | undefined;
    let corrected: S3Client | undefined;
    try {
      skewed = s3Client(key);
      expect(await errorName(skewed.send(get))).toBe('RequestTimeTooSkewed');
      // With retries, the SDK corrects its clock from our Date header and succeeds.
      corrected = s3Client(key, { maxAttempts: 3 });
      expect(await errorName(corrected.send(get))).toBe('no error');
      expect(Math.abs((await corrected.config.systemClockOffset) - serverOffset)).toBeLessThan(
        60_000,
      );
    } finally {
      serverOffset = 0;
    }
    for (const client of [wrong, unknown, skewed, corrected]) client?.destroy();
  });

  it('a DynamoDB JSON call, with JSON-protocol error names', async () => {
    const key = await accessKeys.createAccessKey({ principalId: 'erin' });
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: key,
      maxAttempts: 1,
    });
    const tables = await client.send(new ListTablesCommand({ Limit: 5 }));
    expect(tables.TableNames).toEqual(['tables-of-erin']);
    const wrong = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { ...key, secretAccessKey: 'W'.repeat(40) },
      maxAttempts: 1,
    });
    expect(await errorName(wrong.send(new ListTablesCommand({})))).toBe(
      'InvalidSignatureException',
    );
    const unknown = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { ...key, accessKeyId: 'AKIAAAAAAAAAAAAAAAAA' },
      maxAttempts: 1,
    });
    expect(await errorName(unknown.send(new ListTablesCommand({})))).toBe(
      'UnrecognizedClientException',
    );
    for (const c of [client, wrong, unknown]) c.destroy();
  });

  it('bad input over real HTTP: 4xx, never 5xx', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ authorization: 'AWS4-HMAC-SHA256 Credential=' }, 400],
      [{ authorization: 'garbage' }, 400],
      [{}, 403],
      [{ 'x-big': 'a'.repeat(64 * 1024) }, 431],
    ];
    for (const [headers, status] of cases) {
      const response = await fetch(`${endpoint}/bucket/key`, { headers });
      expect(response.status).toBe(status);
      if (status !== 431) expect(response.headers.get('date')).toBeTruthy();
    }
    const query = await fetch(
      `${endpoint}/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=9999999`,
    );
    expect(query.status).toBe(400);
    expect(await query.text()).toContain('AuthorizationQueryParametersError');
  });
});
