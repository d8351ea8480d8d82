// The framework-free parts of `/s3`: configuration checks and the in-memory bucket. The apps
// themselves are driven by the real AWS SDK in each example's smoke suite.
import { createHash, randomBytes } from 'node:crypto';
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
const request = (
  method: string,
  rawUrl: string,
  body: string | Buffer = '',
  headers: Record<string, string> = {},
): S3Request => ({
  method,
  rawUrl,
  headers,
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

  it('generates a key only in the embedded mode, and checks a given one', async () => {
    expect(accessKeyKeyring({}).source).toBe('generated');
    expect(() => accessKeyKeyring({ DATABASE_URL: 'postgres://x' })).toThrow(
      /^ACCESS_KEY_ENCRYPTION_KEY is required with DATABASE_URL/,
    );
    const key = randomBytes(32).toString('base64');
    const { keyring, source } = accessKeyKeyring({ ACCESS_KEY_ENCRYPTION_KEY: key });
    expect(source).toBe('env');
    const sealed = await keyring.seal('secret', 'AKIA');
    expect(sealed.startsWith('$acse$')).toBe(true); // @authcache/seal's envelope
    expect(await keyring.open(sealed, 'AKIA')).toBe('secret');
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
    expect((await s3.handle(request('POST', '/s3/bkt/b'))).status).toBe(405);
    expect(s3.size).toBe(4);
  });

  it('DeleteObject answers 204, for a missing key too', async () => {
    const s3 = createS3Bucket();
    await s3.handle(request('PUT', '/s3/bkt/k', 'data'));
    expect((await s3.handle(request('DELETE', '/s3/bkt/k'))).status).toBe(204);
    expect(s3.size).toBe(0);
    expect((await s3.handle(request('GET', '/s3/bkt/k'))).status).toBe(404);
    expect((await s3.handle(request('DELETE', '/s3/bkt/k'))).status).toBe(204);
    expect((await s3.handle(request('DELETE', '/s3/other/k'))).status).toBe(204);
  });

  it('serves at another mount (the root too) and dates objects and errors by its clock', async () => {
    const at = Date.UTC(2030, 0, 2, 3, 4, 5);
    const s3 = createS3Bucket({ mount: '', clock: () => at });
    expect((await s3.handle(request('PUT', '/bkt/dir/k', 'root'))).status).toBe(200);
    const got = await s3.handle(request('GET', '/bkt/dir/k'));
    expect([String(got.body), got.headers['last-modified']]).toEqual([
      'root',
      new Date(at).toUTCString(),
    ]);
    expect(String((await s3.handle(request('GET', '/bkt?list-type=2'))).body)).toContain(
      `<Key>dir/k</Key><LastModified>${new Date(at).toISOString()}</LastModified>`,
    );
    // `/top/bkt/dir/k` is bucket `top`, key `bkt/dir/k`: not found, never the object above.
    expect((await s3.handle(request('GET', '/top/bkt/dir/k'))).status).toBe(404);
    expect(String((await s3.handle(request('GET', '/B_/k'))).body)).toContain(
      '<Code>InvalidBucketName</Code>',
    );
    const bad = await s3.handle({
      ...request('PUT', '/bkt/k'),
      body: async function* () {
        yield* [];
        throw new SigV4Error('XAmzContentSHA256Mismatch', 'mismatch');
      },
    });
    expect([bad.status, bad.headers.date]).toEqual([400, new Date(at).toUTCString()]);

    const mounted = createS3Bucket({ mount: '/objects' });
    expect((await mounted.handle(request('PUT', '/objects/bkt/k', 'x'))).status).toBe(200);
    expect(String((await mounted.handle(request('GET', '/objects/bkt/k'))).body)).toBe('x');
    expect((await mounted.handle(request('GET', '/s3/bkt/k'))).status).toBe(404);
    expect((await mounted.handle(request('GET', '/objectsbkt/k'))).status).toBe(404);
  });

  it('keeps dot segments of a key literally', async () => {
    const s3 = createS3Bucket();
    await s3.handle(request('PUT', '/s3/bkt/d/./e/../f', 'dots'));
    expect((await s3.handle(request('GET', '/s3/bkt/d/f'))).status).toBe(404);
    expect(String((await s3.handle(request('GET', '/s3/bkt/d/./e/../f'))).body)).toBe('dots');
  });

  it('answers Range as S3: 206 with Content-Range, 416 InvalidRange, and ignores what it does not serve', async () => {
    const s3 = createS3Bucket();
    await s3.handle(request('PUT', '/s3/bkt/digits', '0123456789'));
    const get = async (range?: string, method = 'GET') => {
      const res = await s3.handle(
        request(method, '/s3/bkt/digits', '', range === undefined ? {} : { range }),
      );
      return {
        status: res.status,
        range: res.headers['content-range'],
        length: res.headers['content-length'],
        accept: res.headers['accept-ranges'],
        body: String(res.body),
      };
    };
    expect(await get()).toMatchObject({ status: 200, length: '10', accept: 'bytes' });
    expect(await get('bytes=2-5')).toEqual({
      status: 206,
      range: 'bytes 2-5/10',
      length: '4',
      accept: 'bytes',
      body: '2345',
    });
    expect(await get('bytes=7-')).toMatchObject({
      status: 206,
      range: 'bytes 7-9/10',
      body: '789',
    });
    expect(await get('bytes=-3')).toMatchObject({
      status: 206,
      range: 'bytes 7-9/10',
      body: '789',
    });
    // Past the end: cut to the end; a suffix longer than the object is all of it, still 206.
    expect(await get('bytes=8-100')).toMatchObject({
      status: 206,
      range: 'bytes 8-9/10',
      length: '2',
    });
    expect(await get('bytes=-50')).toMatchObject({
      status: 206,
      range: 'bytes 0-9/10',
      length: '10',
    });
    expect(await get('bytes=0-0')).toMatchObject({ status: 206, body: '0' });
    // HEAD answers the same headers.
    expect(await get('bytes=2-5', 'HEAD')).toMatchObject({
      status: 206,
      range: 'bytes 2-5/10',
      length: '4',
    });
    for (const unsatisfiable of ['bytes=10-', 'bytes=10-20', 'bytes=-0']) {
      const res = await get(unsatisfiable);
      expect([res.status, res.range, res.body]).toEqual([
        416,
        'bytes */10',
        expect.stringContaining('<Code>InvalidRange</Code>'),
      ]);
      expect(res.body).toContain('<ActualObjectSize>10</ActualObjectSize>');
    }
    // Ignored as S3 does: whole object, 200.
    for (const ignored of [
      'bytes=0-1,5-6',
      'bytes=5-2',
      'bytes=x-y',
      'items=0-1',
      'bytes=-',
      '0-1',
    ]) {
      expect(await get(ignored)).toMatchObject({
        status: 200,
        range: undefined,
        body: '0123456789',
      });
    }
  });

  it('lists with ListObjects v1: Marker, NextMarker with a delimiter, MaxKeys, CommonPrefixes', async () => {
    const s3 = createS3Bucket();
    for (const key of ['a', 'b', 'c/1', 'c/2', 'd']) {
      await s3.handle(request('PUT', `/s3/bkt/${key}`, 'x'));
    }
    const first = String((await s3.handle(request('GET', '/s3/bkt?max-keys=2'))).body);
    expect(first).toMatch(
      /<Marker><\/Marker><MaxKeys>2<\/MaxKeys><IsTruncated>true<\/IsTruncated><Contents><Key>a<\/Key>.*<Key>b<\/Key>/,
    );
    expect(first).not.toContain('NextMarker');
    expect(first).not.toContain('KeyCount');
    const second = String((await s3.handle(request('GET', '/s3/bkt?max-keys=2&marker=b'))).body);
    expect(second).toMatch(/<Marker>b<\/Marker>.*<Key>c\/1<\/Key>.*<Key>c\/2<\/Key>/);
    const folders = String(
      (await s3.handle(request('GET', '/s3/bkt?delimiter=%2F&max-keys=3'))).body,
    );
    expect(folders).toMatch(
      /<NextMarker>c\/<\/NextMarker><MaxKeys>3<\/MaxKeys><Delimiter>\/<\/Delimiter><IsTruncated>true<\/IsTruncated>.*<Key>a<\/Key>.*<Key>b<\/Key>.*<CommonPrefixes><Prefix>c\/<\/Prefix><\/CommonPrefixes>/,
    );
    const rest = String(
      (await s3.handle(request('GET', '/s3/bkt?delimiter=%2F&marker=c%2F'))).body,
    );
    expect(rest).toMatch(/<IsTruncated>false<\/IsTruncated><Contents><Key>d<\/Key>/);
    expect(rest).not.toContain('<Prefix>c/</Prefix>');
    const prefixed = String((await s3.handle(request('GET', '/s3/bkt?prefix=c%2F'))).body);
    expect(prefixed).toMatch(
      /<Prefix>c\/<\/Prefix>.*<Key>c\/1<\/Key>.*<Key>c\/2<\/Key>.*<\/Contents><\/ListBucketResult>$/,
    );
  });
});

describe('multipart uploads', () => {
  const md5 = (data: Buffer | string) => createHash('md5').update(data).digest();
  const uploadIdOf = (xml: unknown) => /<UploadId>([^<]+)<\/UploadId>/.exec(String(xml))![1]!;
  const completion = (parts: [number, string][]) =>
    `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts
      .map(
        ([n, etag]) =>
          `<Part><ETag>${etag.replace(/"/g, '&quot;')}</ETag><PartNumber>${n}</PartNumber></Part>`,
      )
      .join('')}</CompleteMultipartUpload>`;
  const start = async (s3: ReturnType<typeof createS3Bucket>, key = 'big') => {
    const created = await s3.handle(request('POST', `/s3/bkt/${key}?uploads`));
    expect(created.status).toBe(200);
    return uploadIdOf(created.body);
  };
  const part = async (
    s3: ReturnType<typeof createS3Bucket>,
    id: string,
    n: number,
    body: string,
    key = 'big',
  ) => s3.handle(request('PUT', `/s3/bkt/${key}?partNumber=${n}&uploadId=${id}`, body));

  it('joins the listed parts, with the ETag "<md5 of the part md5s>-N"', async () => {
    const s3 = createS3Bucket({ minPartSize: 4 });
    const id = await start(s3);
    expect(s3.uploads).toBe(1);
    const etags: string[] = [];
    for (const [n, body] of [
      [1, 'aaaa'],
      [2, 'bbbb'],
      [3, 'cc'],
    ] as const) {
      const res = await part(s3, id, n, body);
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe(`"${md5(body).toString('hex')}"`);
      etags.push(res.headers.etag!);
    }
    // The object is not there before completion.
    expect((await s3.handle(request('GET', '/s3/bkt/big'))).status).toBe(404);
    const parts = String((await s3.handle(request('GET', `/s3/bkt/big?uploadId=${id}`))).body);
    expect(parts).toMatch(
      /<PartNumber>1<\/PartNumber>.*<Size>4<\/Size>.*<PartNumber>3<\/PartNumber>.*<Size>2<\/Size>/,
    );
    const done = await s3.handle(
      request('POST', `/s3/bkt/big?uploadId=${id}`, completion(etags.map((e, i) => [i + 1, e]))),
    );
    const expected = `"${md5(Buffer.concat([md5('aaaa'), md5('bbbb'), md5('cc')])).toString('hex')}-3"`;
    expect([done.status, String(done.body)]).toEqual([
      200,
      expect.stringContaining(`<ETag>${expected.replace(/"/g, '&quot;')}</ETag>`),
    ]);
    const got = await s3.handle(request('GET', '/s3/bkt/big'));
    expect([String(got.body), got.headers.etag]).toEqual(['aaaabbbbcc', expected]);
    expect(s3.uploads).toBe(0);
    // Completed: the upload id is gone.
    expect(String((await part(s3, id, 4, 'dd')).body)).toContain('<Code>NoSuchUpload</Code>');
  });

  it('refuses unknown uploads and parts, parts out of order, small parts, malformed lists; aborts', async () => {
    const s3 = createS3Bucket({ minPartSize: 4 });
    const code = (res: { status: number; body: unknown }) => [
      res.status,
      /<Code>([^<]+)<\/Code>/.exec(String(res.body))?.[1],
    ];
    expect(code(await part(s3, 'nope', 1, 'x'))).toEqual([404, 'NoSuchUpload']);
    const id = await start(s3);
    // Another key with this upload id is not this upload.
    expect(code(await part(s3, id, 1, 'x', 'other'))).toEqual([404, 'NoSuchUpload']);
    expect(code(await part(s3, id, 0, 'x'))).toEqual([400, 'InvalidArgument']);
    expect(code(await part(s3, id, 10_001, 'x'))).toEqual([400, 'InvalidArgument']);
    const one = (await part(s3, id, 1, 'aaaa')).headers.etag!;
    const two = (await part(s3, id, 2, 'bb')).headers.etag!;
    const three = (await part(s3, id, 3, 'cccc')).headers.etag!;
    const complete = (body: string) =>
      s3.handle(request('POST', `/s3/bkt/big?uploadId=${id}`, body));
    expect(
      code(
        await complete(
          completion([
            [2, two],
            [1, one],
          ]),
        ),
      ),
    ).toEqual([400, 'InvalidPartOrder']);
    expect(
      code(
        await complete(
          completion([
            [1, one],
            [1, one],
          ]),
        ),
      ),
    ).toEqual([400, 'InvalidPartOrder']);
    expect(
      code(
        await complete(
          completion([
            [1, one],
            [4, two],
          ]),
        ),
      ),
    ).toEqual([400, 'InvalidPart']);
    expect(code(await complete(completion([[1, two]])))).toEqual([400, 'InvalidPart']);
    // Part 2 (2 bytes) is not the last one listed.
    expect(
      code(
        await complete(
          completion([
            [1, one],
            [2, two],
            [3, three],
          ]),
        ),
      ),
    ).toEqual([400, 'EntityTooSmall']);
    expect(code(await complete('not xml'))).toEqual([400, 'MalformedXML']);
    expect(code(await complete(completion([])))).toEqual([400, 'MalformedXML']);
    expect(
      code(await s3.handle(request('POST', '/s3/bkt/big?uploadId=nope', completion([[1, one]])))),
    ).toEqual([404, 'NoSuchUpload']);
    expect(s3.size).toBe(0);
    // A subset of the parts, small last part allowed.
    const done = await complete(
      completion([
        [1, one],
        [2, two],
      ]),
    );
    expect(done.status).toBe(200);
    expect(String((await s3.handle(request('GET', '/s3/bkt/big'))).body)).toBe('aaaabb');

    const aborted = await start(s3);
    await part(s3, aborted, 1, 'zzzz');
    expect((await s3.handle(request('DELETE', `/s3/bkt/big?uploadId=${aborted}`))).status).toBe(
      204,
    );
    expect(s3.uploads).toBe(0);
    expect(code(await s3.handle(request('DELETE', `/s3/bkt/big?uploadId=${aborted}`)))).toEqual([
      404,
      'NoSuchUpload',
    ]);
    expect(String((await s3.handle(request('GET', '/s3/bkt/big'))).body)).toBe('aaaabb');
  });

  it('drops a part whose upload was aborted while its body was arriving', async () => {
    const s3 = createS3Bucket();
    const id = await start(s3);
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => (release = resolve));
    const pending = s3.handle({
      ...request('PUT', `/s3/bkt/big?partNumber=1&uploadId=${id}`),
      body: async function* () {
        yield Buffer.from('first half ');
        await arrived;
        yield Buffer.from('second half');
      },
    });
    expect((await s3.handle(request('DELETE', `/s3/bkt/big?uploadId=${id}`))).status).toBe(204);
    release();
    expect(String((await pending).body)).toContain('<Code>NoSuchUpload</Code>');
  });

  it('holds at most maxObjectSize of parts per upload', async () => {
    const s3 = createS3Bucket({ minPartSize: 1, maxObjectSize: 10 });
    const id = await start(s3);
    expect((await part(s3, id, 1, '123456')).status).toBe(200);
    // Replacing part 1 does not count it twice.
    expect((await part(s3, id, 1, '654321')).status).toBe(200);
    const tooMuch = await part(s3, id, 2, '12345');
    expect([tooMuch.status, String(tooMuch.body)]).toEqual([
      400,
      expect.stringContaining('<Code>EntityTooLarge</Code>'),
    ]);
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
