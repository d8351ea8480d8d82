// The framework-free parts of `/s3`: configuration checks and the in-memory bucket. The apps
// themselves are driven by the real AWS SDK in each example's smoke suite.
import { randomBytes } from 'node:crypto';
import type { RequestAuth } from '@authcache/core';
import { generateAccessKeyId, generateSecretAccessKey, SigV4Error } from '@authcache/sigv4';
import { describe, expect, it } from 'vitest';
import {
  accessKeyKeyring,
  createExampleContext,
  createS3Bucket,
  parseSeedAccessKey,
  type S3Request,
} from '../src/index.js';

const auth = { subject: 'alice', path: 'sigv4' } as RequestAuth;
const request = (method: string, rawUrl: string, body = ''): S3Request => ({
  method,
  rawUrl,
  auth,
  body: async function* () {
    if (body) yield Buffer.from(body);
  },
});

describe('SEED_ACCESS_KEY and ACCESS_KEY_ENCRYPTION_KEY', () => {
  it('parses <id>:<secret> and refuses anything else without echoing it', () => {
    const id = generateAccessKeyId();
    const secret = generateSecretAccessKey();
    expect(parseSeedAccessKey(undefined)).toBeNull();
    expect(parseSeedAccessKey(`${id}:${secret}`)).toEqual({
      accessKeyId: id,
      secretAccessKey: secret,
    });
    for (const bad of [
      secret,
      `${id}:short`,
      `${generateAccessKeyId(true)}:${secret}`,
      `akia${id.slice(4)}:${secret}`,
      `${id}:${secret} with spaces`,
    ]) {
      expect(() => parseSeedAccessKey(bad)).toThrow(/^SEED_ACCESS_KEY must be/);
      try {
        parseSeedAccessKey(bad);
      } catch (error) {
        expect(String(error)).not.toContain(secret);
      }
    }
  });

  it('generates a key only in the embedded mode, and checks a given one', () => {
    expect(accessKeyKeyring({}).source).toBe('generated');
    expect(() => accessKeyKeyring({ DATABASE_URL: 'postgres://x' })).toThrow(
      /^ACCESS_KEY_ENCRYPTION_KEY is required with DATABASE_URL/,
    );
    const key = randomBytes(32).toString('base64');
    const { keyring, source } = accessKeyKeyring({ ACCESS_KEY_ENCRYPTION_KEY: key });
    expect(source).toBe('env');
    expect(keyring.open(keyring.seal('secret', 'AKIA'), 'AKIA')).toBe('secret');
    const short = randomBytes(16).toString('base64');
    expect(() => accessKeyKeyring({ ACCESS_KEY_ENCRYPTION_KEY: short })).toThrow(
      'ACCESS_KEY_ENCRYPTION_KEY must be 32 bytes in base64 (44 characters)',
    );
  });

  it('createExampleContext fails on them before opening anything', async () => {
    await expect(createExampleContext({ env: { SEED_ACCESS_KEY: 'nope' } })).rejects.toThrow(
      /^SEED_ACCESS_KEY must be/,
    );
    await expect(
      createExampleContext({ env: { DATABASE_URL: 'postgres://127.0.0.1:1/none' } }),
    ).rejects.toThrow(/^ACCESS_KEY_ENCRYPTION_KEY is required/);
  });
});

describe('the in-memory S3 bucket', () => {
  it('stores, lists in pages and answers S3 error codes', async () => {
    const s3 = createS3Bucket({ maxObjectSize: 10 });
    for (const key of ['b', 'a%2Fx', 'c']) {
      expect((await s3.handle(request('PUT', `/s3/bkt/${key}`, 'data'))).status).toBe(200);
    }
    expect(s3.size).toBe(3);
    const got = await s3.handle(request('GET', '/s3/bkt/a/x'));
    expect([got.status, String(got.body), got.headers['x-amz-meta-owner']]).toEqual([
      200,
      'data',
      'alice',
    ]);
    const page = await s3.handle(request('GET', '/s3/bkt?list-type=2&max-keys=2'));
    expect(String(page.body)).toMatch(
      /<KeyCount>2<\/KeyCount>.*<IsTruncated>true<\/IsTruncated><NextContinuationToken>b<\/NextContinuationToken><Contents><Key>a\/x<\/Key>.*<Key>b<\/Key>/,
    );
    const rest = await s3.handle(request('GET', '/s3/bkt?list-type=2&continuation-token=b'));
    expect(String(rest.body)).toMatch(/<KeyCount>1<\/KeyCount>.*<Key>c<\/Key>/);

    await s3.handle(request('PUT', '/s3/bkt/dir/a%20b%2Bc', 'data'));
    const folders = await s3.handle(
      request('GET', '/s3/bkt?list-type=2&delimiter=%2F&encoding-type=url'),
    );
    expect(String(folders.body)).toMatch(
      /<CommonPrefixes><Prefix>a\/<\/Prefix><\/CommonPrefixes>.*<Key>b<\/Key>.*<Key>c<\/Key>.*<CommonPrefixes><Prefix>dir\/<\/Prefix>/,
    );
    const inDir = await s3.handle(
      request('GET', '/s3/bkt?list-type=2&prefix=dir%2F&delimiter=%2F&encoding-type=url'),
    );
    expect(String(inDir.body)).toContain('<Key>dir/a%20b%2Bc</Key>');
    expect(s3.size).toBe(4);

    const tooBig = await s3.handle(request('PUT', '/s3/bkt/big', '12345678901'));
    expect([tooBig.status, String(tooBig.body)]).toEqual([
      400,
      expect.stringContaining('<Code>EntityTooLarge</Code>'),
    ]);
    expect((await s3.handle(request('GET', '/s3/bkt/none'))).status).toBe(404);
    expect(String((await s3.handle(request('GET', '/s3/B_/k'))).body)).toContain(
      '<Code>InvalidBucketName</Code>',
    );
    expect(String((await s3.handle(request('GET', '/s3/bkt/%E0%A4%A'))).body)).toContain(
      '<Code>InvalidURI</Code>',
    );
    expect((await s3.handle(request('DELETE', '/s3/bkt/b'))).status).toBe(405);
    expect(s3.size).toBe(4);
  });

  it('answers a body that fails its signature check with the SigV4 error, storing nothing', async () => {
    const s3 = createS3Bucket();
    const answer = await s3.handle({
      ...request('PUT', '/s3/bkt/k'),
      body: async function* () {
        yield Buffer.from('partial');
        throw new SigV4Error('XAmzContentSHA256Mismatch', 'mismatch');
      },
    });
    expect(answer.status).toBe(400);
    expect(String(answer.body)).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
    expect(s3.size).toBe(0);
  });
});
