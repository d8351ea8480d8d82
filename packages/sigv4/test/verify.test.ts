import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createSigningKeyCache,
  createSigV4Verifier,
  EMPTY_SHA256,
  prepareSigV4Request,
  SigV4Error,
  type SigV4Key,
  type SigV4Request,
  type SigV4Result,
  verifySigV4,
} from '../src/index.js';
import { HOST, KEY, NOW, presign, sign } from './sign.js';

const principal = { user: 'alice' };
const keys = new Map<string, SigV4Key>([
  [KEY.accessKeyId, { secret: KEY.secretAccessKey, principal }],
]);

function s3Verifier(overrides: Partial<Parameters<typeof createSigV4Verifier>[0]> = {}) {
  return createSigV4Verifier({
    service: 's3',
    region: 'us-east-1',
    clock: () => NOW,
    lookupKey: (id) => keys.get(id) ?? null,
    ...overrides,
  });
}

function code(result: SigV4Result): string {
  return result.ok ? 'ok' : result.error.code;
}

const unsigned = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };

describe('header form (S3)', () => {
  it('accepts a request signed by the AWS SDK signer and hands back the principal', async () => {
    const request = await sign({ headers: unsigned });
    const result = await s3Verifier().verify(request);
    if (!result.ok) throw result.error;
    expect(result.principal).toBe(principal);
    expect(result.accessKeyId).toBe(KEY.accessKeyId);
    expect(result.form).toBe('header');
    expect(result.payload).toEqual({ type: 'unsigned' });
    expect(result.session).toBe(false);
    expect(result.requestTime).toBe(NOW);
  });

  it('encodes S3 keys once, without normalising, keeping %2F apart from /', async () => {
    const path = '/bucket/a%20b/../c%2Fd/%E2%82%AC%2B%21';
    const request = await sign({
      path,
      headers: unsigned,
      query: { 'list-type': '2', prefix: 'x y' },
    });
    const result = await s3Verifier().verify(request);
    if (!result.ok) throw result.error;
    expect(result.canonicalRequest.split('\n')[1]).toBe('/bucket/a%20b/../c%2Fd/%E2%82%AC%2B%21');
    expect(result.canonicalRequest.split('\n')[2]).toBe('list-type=2&prefix=x%20y');
  });

  it('checks a signed SHA-256 payload against the body', async () => {
    const body = 'hello world';
    const hash = createHash('sha256').update(body).digest('hex');
    const request = await sign({ method: 'PUT', body, headers: { 'x-amz-content-sha256': hash } });
    const ok = await s3Verifier().verify(request);
    if (!ok.ok) throw ok.error;
    expect(ok.payload).toEqual({ type: 'sha256', hash, verified: true });

    expect(code(await s3Verifier().verify({ ...request, body: 'hello worle' }))).toBe(
      'XAmzContentSHA256Mismatch',
    );

    const { body: _drop, ...streamed } = request;
    const result = await s3Verifier().verify(streamed);
    if (!result.ok) throw result.error;
    expect(result.payload).toEqual({ type: 'sha256', hash, verified: false });
    const good = result.createBodyVerifier();
    expect(
      Buffer.concat([
        ...good.update(Buffer.from('hello ')),
        ...good.update(Buffer.from('world')),
      ]).toString(),
    ).toBe(body);
    expect(good.final()).toEqual([]);
    const bad = result.createBodyVerifier();
    bad.update(Buffer.from('hello there'));
    expect(() => bad.final()).toThrow(
      expect.objectContaining({ code: 'XAmzContentSHA256Mismatch' }),
    );
  });

  it('requires a valid x-amz-content-sha256', async () => {
    const missing = await sign({ applyChecksum: false });
    expect(code(await s3Verifier().verify(missing))).toBe('InvalidRequest');
    const invalid = await sign({ headers: { 'x-amz-content-sha256': 'abc' } });
    expect(code(await s3Verifier().verify(invalid))).toBe('InvalidArgument');
    const sigv4a = await sign({
      headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' },
    });
    expect(code(await s3Verifier().verify(sigv4a))).toBe('InvalidArgument');
  });

  it('rejects unsigned x-amz-* headers for S3 but not for other services', async () => {
    const request = await sign({ headers: unsigned });
    const tampered: SigV4Request = {
      ...request,
      headers: { ...request.headers, 'X-Amz-Meta-Owner': 'mallory' },
    };
    const result = await s3Verifier().verify(tampered);
    expect(code(result)).toBe('AccessDenied');
    if (!result.ok) expect(result.error.details.HeadersNotSigned).toBe('x-amz-meta-owner');

    const other = await sign({ service: 'execute-api' });
    const extra = { ...other, headers: { ...other.headers, 'x-amz-meta-owner': 'mallory' } };
    const verifier = createSigV4Verifier({
      service: 'execute-api',
      region: 'us-east-1',
      clock: () => NOW,
      lookupKey: (id) => keys.get(id) ?? null,
    });
    expect(code(await verifier.verify(extra))).toBe('ok');
  });

  it('joins repeated headers with "," from headersDistinct and rawHeaders shapes', async () => {
    const request = await sign({ headers: { ...unsigned, 'x-custom': 'a' } });
    // Sign a request whose x-custom header has two values by signing the joined form.
    const signed = await sign({ headers: { ...unsigned, 'x-custom': 'a,b' } });
    const distinct: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(signed.headers))
      distinct[name.toLowerCase()] = [value];
    distinct['x-custom'] = [' a ', 'b'];
    expect(code(await s3Verifier().verify({ ...signed, headers: distinct }))).toBe('ok');
    const raw: string[] = [];
    for (const [name, value] of Object.entries(signed.headers))
      if (name !== 'x-custom') raw.push(name, value);
    raw.push('X-Custom', 'a', 'x-custom', '   b');
    expect(code(await s3Verifier().verify({ ...signed, headers: raw }))).toBe('ok');
    // node's req.headers would have joined them with ", ": that is another canonical value.
    expect(
      code(
        await s3Verifier().verify({
          ...request,
          headers: { ...request.headers, 'x-custom': 'a, b' },
        }),
      ),
    ).toBe('SignatureDoesNotMatch');
  });

  it('accepts a fetch Headers object and runs one-shot through verifySigV4', async () => {
    const request = await sign({ headers: unsigned });
    const headers = new Headers(request.headers);
    expect(code(await s3Verifier().verify({ ...request, headers }))).toBe('ok');
    const once = await verifySigV4(request, {
      service: 's3',
      region: 'us-east-1',
      now: NOW,
      lookupKey: (id) => keys.get(id) ?? null,
    });
    expect(code(once)).toBe('ok');
  });

  it('calls a secret function only when it must derive a signing key', async () => {
    let calls = 0;
    const lazy = s3Verifier({
      lookupKey: () => ({
        secret: () => {
          calls++;
          return KEY.secretAccessKey;
        },
        secretVersion: 'v1',
        principal,
      }),
    });
    const request = await sign({ headers: unsigned });
    expect(code(await lazy.verify(request))).toBe('ok');
    expect(code(await lazy.verify(request))).toBe('ok');
    expect(calls).toBe(1);
    const failing = s3Verifier({
      lookupKey: () => ({
        secret: () => {
          throw new SigV4Error('InternalError', 'cannot open');
        },
        secretVersion: 'v1',
        principal,
      }),
    });
    expect(code(await failing.verify(request))).toBe('InternalError');
  });

  it('takes the host from :authority under HTTP/2', async () => {
    const request = await sign({ headers: unsigned });
    const { host, ...rest } = request.headers;
    expect(
      code(await s3Verifier().verify({ ...request, headers: { ...rest, ':authority': host! } })),
    ).toBe('ok');
  });
});

describe('credential scope and time', () => {
  it('checks service, region and aws4_request', async () => {
    const wrongRegion = await sign({ headers: unsigned, region: 'eu-west-1' });
    const result = await s3Verifier().verify(wrongRegion);
    expect(code(result)).toBe('AuthorizationHeaderMalformed');
    if (!result.ok) expect(result.error.details.Region).toBe('us-east-1');
    expect(code(await s3Verifier({ region: '*' }).verify(wrongRegion))).toBe('ok');
    expect(code(await s3Verifier({ region: ['us-east-1', 'eu-west-1'] }).verify(wrongRegion))).toBe(
      'ok',
    );
    const wrongService = await sign({ headers: unsigned, service: 'sqs' });
    expect(code(await s3Verifier().verify(wrongService))).toBe('AuthorizationHeaderMalformed');

    const request = await sign({ headers: unsigned });
    const auth = request.headers.authorization!;
    const noTerminal = auth.replace('aws4_request', 'aws5_request');
    expect(
      code(
        await s3Verifier().verify({
          ...request,
          headers: { ...request.headers, authorization: noTerminal },
        }),
      ),
    ).toBe('AuthorizationHeaderMalformed');
    const otherDay = auth.replace('/20260301/', '/20260302/');
    expect(
      code(
        await s3Verifier().verify({
          ...request,
          headers: { ...request.headers, authorization: otherDay },
        }),
      ),
    ).toBe('AuthorizationHeaderMalformed');
  });

  it('refuses more than 15 minutes of skew either way, with the server time in the details', async () => {
    const minute = 60_000;
    for (const offset of [-15 * minute, 15 * minute]) {
      expect(
        code(await s3Verifier().verify(await sign({ headers: unsigned, date: NOW + offset }))),
      ).toBe('ok');
    }
    for (const offset of [-16 * minute, 16 * minute]) {
      const result = await s3Verifier().verify(
        await sign({ headers: unsigned, date: NOW + offset }),
      );
      expect(code(result)).toBe('RequestTimeTooSkewed');
      if (!result.ok) expect(result.error.details.ServerTime).toBe(new Date(NOW).toISOString());
    }
  });

  it('falls back to the Date header when there is no X-Amz-Date', async () => {
    // Signed by hand: the SDK signer always adds X-Amz-Date.
    const date = new Date(NOW).toUTCString();
    const amzDate = '20260301T120000Z';
    const canonical = [
      'GET',
      '/bucket/key',
      '',
      `date:${date}`,
      `host:${HOST}`,
      'x-amz-content-sha256:UNSIGNED-PAYLOAD',
      '',
      'date;host;x-amz-content-sha256',
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const scope = '20260301/us-east-1/s3/aws4_request';
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    let k: Buffer = createHmac('sha256', `AWS4${KEY.secretAccessKey}`).update('20260301').digest();
    for (const part of ['us-east-1', 's3', 'aws4_request'])
      k = createHmac('sha256', k).update(part).digest();
    const signature = createHmac('sha256', k).update(toSign).digest('hex');
    const request: SigV4Request = {
      method: 'GET',
      rawPath: '/bucket/key',
      headers: {
        host: HOST,
        date,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization: `AWS4-HMAC-SHA256 Credential=${KEY.accessKeyId}/${scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature=${signature}`,
      },
    };
    const result = await s3Verifier().verify(request);
    if (!result.ok) throw result.error;
    expect(result.canonicalRequest).toBe(canonical);
    const noDate = {
      ...request,
      headers: { ...(request.headers as Record<string, string>), date: 'yesterday' },
    };
    expect(code(await s3Verifier().verify(noDate))).toBe('AccessDenied');
  });
});

describe('presigned (query) form', () => {
  it('accepts an SDK-presigned URL and defaults S3 to UNSIGNED-PAYLOAD', async () => {
    const request = await presign({ expiresIn: 3600 });
    const result = await s3Verifier().verify(request);
    if (!result.ok) throw result.error;
    expect(result.form).toBe('query');
    expect(result.payload).toEqual({ type: 'unsigned' });
    expect(result.canonicalRequest.endsWith('\nUNSIGNED-PAYLOAD')).toBe(true);
  });

  it('defaults to UNSIGNED-PAYLOAD when the URL carries no X-Amz-Content-Sha256 (botocore style)', async () => {
    const scope = '20260301/us-east-1/s3/aws4_request';
    const query = [
      'X-Amz-Algorithm=AWS4-HMAC-SHA256',
      `X-Amz-Credential=${KEY.accessKeyId}%2F${scope.replaceAll('/', '%2F')}`,
      'X-Amz-Date=20260301T120000Z',
      'X-Amz-Expires=300',
      'X-Amz-SignedHeaders=host',
    ].join('&');
    const canonical = [
      'GET',
      '/bucket/my%20file.txt',
      query,
      `host:${HOST}`,
      '',
      'host',
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const toSign = `AWS4-HMAC-SHA256\n20260301T120000Z\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    let k: Buffer = createHmac('sha256', `AWS4${KEY.secretAccessKey}`).update('20260301').digest();
    for (const part of ['us-east-1', 's3', 'aws4_request'])
      k = createHmac('sha256', k).update(part).digest();
    const signature = createHmac('sha256', k).update(toSign).digest('hex');
    const request: SigV4Request = {
      method: 'GET',
      rawPath: `/bucket/my%20file.txt?X-Amz-Signature=${signature}&${query}`,
      headers: { host: HOST },
    };
    const result = await s3Verifier().verify(request);
    if (!result.ok) throw result.error;
    expect(result.canonicalRequest).toBe(canonical);
    expect(result.payload).toEqual({ type: 'unsigned' });
  });

  it('is AccessDenied before its time and after it expired', async () => {
    const request = await presign({ expiresIn: 60 });
    expect(code(await s3Verifier().verify(request, { now: NOW + 60_000 }))).toBe('ok');
    expect(code(await s3Verifier().verify(request, { now: NOW + 60_001 }))).toBe('AccessDenied');
    expect(code(await s3Verifier().verify(request, { now: NOW - 14 * 60_000 }))).toBe('ok');
    expect(code(await s3Verifier().verify(request, { now: NOW - 16 * 60_000 }))).toBe(
      'AccessDenied',
    );
  });

  it('bounds X-Amz-Expires to 0..604800', async () => {
    const request = await presign({ expiresIn: 60 });
    for (const [value, expected] of [
      ['604801', 'AuthorizationQueryParametersError'],
      ['99999999999999999999', 'AuthorizationQueryParametersError'],
      ['-1', 'AuthorizationQueryParametersError'],
      ['1e3', 'AuthorizationQueryParametersError'],
      ['0', 'AccessDenied'],
    ] as const) {
      const rawPath = request.rawPath.replace('X-Amz-Expires=60', `X-Amz-Expires=${value}`);
      expect(code(await s3Verifier().verify({ ...request, rawPath }, { now: NOW + 1_000 }))).toBe(
        expected,
      );
    }
  });

  it('refuses duplicated, missing and malformed parameters', async () => {
    const request = await presign();
    const dateParam = /X-Amz-Date=[0-9TZ]+/.exec(request.rawPath)![0];
    const cases: Array<[string, string]> = [
      [`${request.rawPath}&${dateParam}`, 'AuthorizationQueryParametersError'],
      [`${request.rawPath}&X-Amz-Signature=${'0'.repeat(64)}`, 'AuthorizationQueryParametersError'],
      [
        request.rawPath.replace(/&X-Amz-SignedHeaders=[^&]*/, ''),
        'AuthorizationQueryParametersError',
      ],
      [
        request.rawPath.replace(/X-Amz-Signature=[0-9a-f]{64}/, 'X-Amz-Signature=not-hex'),
        'AuthorizationQueryParametersError',
      ],
      [
        request.rawPath.replace(
          /X-Amz-Signature=([0-9a-f]{64})/,
          (_m, s: string) => `X-Amz-Signature=${s.toUpperCase()}`,
        ),
        'AuthorizationQueryParametersError',
      ],
      [
        request.rawPath.replace(
          'X-Amz-Algorithm=AWS4-HMAC-SHA256',
          'X-Amz-Algorithm=AWS4-HMAC-SHA1',
        ),
        'AuthorizationQueryParametersError',
      ],
      [
        request.rawPath.replace(/X-Amz-Date=[0-9TZ]+/, 'X-Amz-Date=20261301T000000Z'),
        'AuthorizationQueryParametersError',
      ],
      [request.rawPath.replace('X-Amz-Credential=', 'X-Amz-Credential=x'), 'InvalidAccessKeyId'],
      [
        request.rawPath.replace(/X-Amz-Credential=[^&]*/, 'X-Amz-Credential=AKIA%2F2026'),
        'AuthorizationQueryParametersError',
      ],
    ];
    for (const [rawPath, expected] of cases) {
      expect([rawPath, code(await s3Verifier().verify({ ...request, rawPath }))]).toEqual([
        rawPath,
        expected,
      ]);
    }
  });

  it('refuses the header and query forms together with InvalidArgument', async () => {
    const header = await sign({ headers: unsigned });
    const query = await presign();
    const both = {
      ...query,
      headers: { ...query.headers, authorization: header.headers.authorization! },
    };
    expect(code(await s3Verifier().verify(both))).toBe('InvalidArgument');
  });

  it('ignores unsigned x-amz-checksum-* headers on presigned uploads only', async () => {
    const request = await presign({ method: 'PUT' });
    const withChecksum = {
      ...request,
      headers: { ...request.headers, 'x-amz-checksum-crc32': 'AAAAAA==' },
    };
    expect(code(await s3Verifier().verify(withChecksum))).toBe('ok');
    const withMeta = { ...request, headers: { ...request.headers, 'x-amz-meta-a': 'b' } };
    expect(code(await s3Verifier().verify(withMeta))).toBe('AccessDenied');
  });
});

describe('keys and session credentials', () => {
  const session = {
    accessKeyId: 'ASIAEXAMPLESESSION01',
    secretAccessKey: 'c2Vzc2lvbi1zZWNyZXQtZm9yLXRlc3RzLW9ubHktMDAwMA',
    sessionToken: 'FwoGZXIvYXdzEXAMPLE-session-token',
  };
  const sessionKey = (overrides: Partial<SigV4Key> = {}): SigV4Key => ({
    secret: session.secretAccessKey,
    sessionTokenHash: createHash('sha256').update(session.sessionToken).digest('hex'),
    expiresAt: NOW + 3_600_000,
    principal,
    ...overrides,
  });
  const verifierWith = (key: SigV4Key | null) =>
    s3Verifier({ lookupKey: (id) => (id === session.accessKeyId ? key : (keys.get(id) ?? null)) });

  it('accepts the right token, header and query forms', async () => {
    const header = await sign({ headers: unsigned, credentials: session });
    const result = await verifierWith(sessionKey()).verify(header);
    if (!result.ok) throw result.error;
    expect(result.session).toBe(true);
    expect(result.expiresAt).toBe(NOW + 3_600_000);
    const query = await presign({ credentials: session });
    expect(code(await verifierWith(sessionKey()).verify(query))).toBe('ok');
    const plain = sessionKey({ sessionTokenHash: undefined, sessionToken: session.sessionToken });
    expect(code(await verifierWith(plain).verify(header))).toBe('ok');
  });

  it('InvalidToken for a wrong, missing or unexpected token; ExpiredToken after expiry', async () => {
    const wrong = await sign({
      headers: unsigned,
      credentials: { ...session, sessionToken: 'another-token' },
    });
    expect(code(await verifierWith(sessionKey()).verify(wrong))).toBe('InvalidToken');
    const missing = await sign({
      headers: unsigned,
      credentials: { ...session, sessionToken: undefined },
    });
    expect(code(await verifierWith(sessionKey()).verify(missing))).toBe('InvalidToken');
    const onPermanent = await sign({
      headers: unsigned,
      credentials: { ...KEY, sessionToken: 'x' },
    });
    expect(code(await s3Verifier().verify(onPermanent))).toBe('InvalidToken');
    const good = await sign({ headers: unsigned, credentials: session });
    expect(code(await verifierWith(sessionKey({ expiresAt: NOW })).verify(good))).toBe(
      'ExpiredToken',
    );
  });

  it('unknown key → InvalidAccessKeyId; a store outage → ServiceUnavailable (503), never a pass', async () => {
    const request = await sign({
      headers: unsigned,
      credentials: { ...KEY, accessKeyId: 'AKIAUNKNOWNKEY000000' },
    });
    const unknown = await s3Verifier().verify(request);
    expect(code(unknown)).toBe('InvalidAccessKeyId');
    if (!unknown.ok) expect(unknown.error.status).toBe(403);
    const down = await s3Verifier({
      lookupKey: () => {
        throw new Error('connect ECONNREFUSED');
      },
    }).verify(await sign({ headers: unsigned }));
    expect(code(down)).toBe('ServiceUnavailable');
    if (!down.ok) {
      expect(down.error.status).toBe(503);
      expect(down.error.message).not.toContain('ECONNREFUSED');
    }
    const refused = await s3Verifier({
      lookupKey: async () => {
        throw new SigV4Error('ExpiredToken');
      },
    }).verify(await sign({ headers: unsigned }));
    expect(code(refused)).toBe('ExpiredToken');
  });

  it('a wrong secret is SignatureDoesNotMatch, and the error carries no secret', async () => {
    const request = await sign({
      headers: unsigned,
      credentials: { ...KEY, secretAccessKey: 'not-the-secret' },
    });
    const result = await s3Verifier().verify(request);
    expect(code(result)).toBe('SignatureDoesNotMatch');
    if (!result.ok)
      expect(JSON.stringify({ ...result.error, message: result.error.message })).not.toContain(
        KEY.secretAccessKey,
      );
  });
});

describe('signing-key cache', () => {
  it('derives once per (key, secret version, date, region, service) and never caches results', async () => {
    const cache = createSigningKeyCache({ max: 10 });
    const verifier = s3Verifier({ signingKeyCache: cache });
    const request = await sign({ headers: unsigned });
    expect(code(await verifier.verify(request))).toBe('ok');
    expect(code(await verifier.verify(request))).toBe('ok');
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
    // A bad signature after a good one is still refused: only the key is cached.
    const bad = {
      ...request,
      headers: {
        ...request.headers,
        authorization: request.headers.authorization!.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      },
    };
    expect(code(await verifier.verify(bad))).toBe('SignatureDoesNotMatch');
    expect(
      code(await verifier.verify(await sign({ headers: unsigned, region: 'us-west-2' }))),
    ).not.toBe('ok');
  });

  it('a rotated secret never reuses a key derived from the old one', async () => {
    let secret = KEY.secretAccessKey;
    const verifier = s3Verifier({ lookupKey: () => ({ secret, principal }) });
    const oldSigned = await sign({ headers: unsigned });
    expect(code(await verifier.verify(oldSigned))).toBe('ok');
    secret = 'a-brand-new-secret-after-rotation';
    expect(code(await verifier.verify(oldSigned))).toBe('SignatureDoesNotMatch');
    const newSigned = await sign({
      headers: unsigned,
      credentials: { ...KEY, secretAccessKey: secret },
    });
    expect(code(await verifier.verify(newSigned))).toBe('ok');
    expect(verifier.signingKeyCache!.stats().misses).toBe(2);
  });

  it('can be turned off', async () => {
    const verifier = s3Verifier({ signingKeyCache: false });
    expect(verifier.signingKeyCache).toBeUndefined();
    expect(code(await verifier.verify(await sign({ headers: unsigned })))).toBe('ok');
  });
});

describe('other services hash the body', () => {
  const dynamo = () =>
    createSigV4Verifier({
      service: 'dynamodb',
      region: 'us-east-1',
      clock: () => NOW,
      lookupKey: (id) => keys.get(id) ?? null,
    });
  const body = JSON.stringify({ TableName: 'things' });

  it('verifies the SHA-256 of the raw body, as signed', async () => {
    const request = await sign({
      service: 'dynamodb',
      method: 'POST',
      path: '/',
      body,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
      },
    });
    const result = await dynamo().verify(request);
    if (!result.ok) throw result.error;
    expect(result.payload).toEqual({
      type: 'sha256',
      hash: createHash('sha256').update(body).digest('hex'),
      verified: true,
    });
    expect(
      code(await dynamo().verify({ ...request, body: body.replace('things', 'thinks') })),
    ).toBe('SignatureDoesNotMatch');
    const { body: _b, ...hashOnly } = request;
    expect(
      code(
        await dynamo().verify({
          ...hashOnly,
          bodyHash: createHash('sha256').update(body).digest('hex'),
        }),
      ),
    ).toBe('ok');
    expect(code(await dynamo().verify({ ...hashOnly, bodyHash: EMPTY_SHA256 }))).toBe(
      'SignatureDoesNotMatch',
    );
  });

  it('normalises and double-encodes the path', async () => {
    const request = await sign({ service: 'execute-api', path: '/a//b/./c%20d/../e' });
    const verifier = createSigV4Verifier({
      service: 'execute-api',
      region: 'us-east-1',
      clock: () => NOW,
      lookupKey: (id) => keys.get(id) ?? null,
    });
    const result = await verifier.verify(request);
    if (!result.ok) throw result.error;
    expect(result.canonicalRequest.split('\n')[1]).toBe('/a/b/e');
  });
});

describe('bad input never throws and always gets a 4xx', () => {
  const expect4xx = (result: SigV4Result, label: string) => {
    expect(result.ok, label).toBe(false);
    if (!result.ok) {
      expect(result.error, label).toBeInstanceOf(SigV4Error);
      expect(result.error.status, `${label}: ${result.error.code}`).toBeGreaterThanOrEqual(400);
      expect(result.error.status, `${label}: ${result.error.code}`).toBeLessThan(500);
    }
  };

  it('every truncation of a valid Authorization header', async () => {
    const request = await sign({ headers: unsigned });
    const auth = request.headers.authorization!;
    const verifier = s3Verifier();
    for (let n = 0; n < auth.length; n++) {
      const result = await verifier.verify({
        ...request,
        headers: { ...request.headers, authorization: auth.slice(0, n) },
      });
      expect4xx(result, `truncated at ${n}`);
    }
  });

  it('garbage and hostile Authorization headers', async () => {
    const request = await sign({ headers: unsigned });
    const auth = request.headers.authorization!;
    const signature = /Signature=([0-9a-f]{64})/.exec(auth)![1]!;
    const garbage: Array<[string, string]> = [
      ['', 'InvalidArgument'],
      ['Bearer mul_abc', 'InvalidArgument'],
      ['AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=', 'InvalidArgument'],
      ['AWS4-ECDSA-P256-SHA256 Credential=x', 'InvalidArgument'],
      ['AWS4-HMAC-SHA256', 'AuthorizationHeaderMalformed'],
      ['AWS4-HMAC-SHA256 ,,,', 'AuthorizationHeaderMalformed'],
      [
        'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=zz',
        'AuthorizationHeaderMalformed',
      ],
      [auth.replace(signature, signature.toUpperCase()), 'AuthorizationHeaderMalformed'],
      [auth.replace(signature, `${signature}00`), 'AuthorizationHeaderMalformed'],
      [`${auth}, Signature=${signature}`, 'AuthorizationHeaderMalformed'],
      [`${auth}, Credential=x`, 'AuthorizationHeaderMalformed'],
      [auth.replace('SignedHeaders=host;', 'SignedHeaders='), 'AuthorizationHeaderMalformed'],
      [
        auth.replace(
          'SignedHeaders=host;x-amz-content-sha256;x-amz-date',
          'SignedHeaders=x-amz-date;host',
        ),
        'AuthorizationHeaderMalformed',
      ],
      [
        auth.replace('SignedHeaders=host;', 'SignedHeaders=host;host;'),
        'AuthorizationHeaderMalformed',
      ],
      [auth.replace('SignedHeaders=host;', 'SignedHeaders=Host;'), 'AuthorizationHeaderMalformed'],
      [
        auth.replace('SignedHeaders=host;', 'SignedHeaders=host;x-absent;'),
        'AuthorizationHeaderMalformed',
      ],
      [auth.replace('Credential=', 'Credential=\u0000'), 'AuthorizationHeaderMalformed'],
      [
        `AWS4-HMAC-SHA256 Credential=${'A'.repeat(600)}/20260301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${signature}`,
        'AuthorizationHeaderMalformed',
      ],
      [`${auth}${' '.repeat(64 * 1024)}x`, 'AuthorizationHeaderMalformed'],
      ['A'.repeat(64 * 1024), 'AuthorizationHeaderMalformed'],
    ];
    const verifier = s3Verifier();
    for (const [value, expected] of garbage) {
      const result = await verifier.verify({
        ...request,
        headers: { ...request.headers, authorization: value },
      });
      expect4xx(result, value.slice(0, 80));
      expect([value.slice(0, 80), code(result)]).toEqual([value.slice(0, 80), expected]);
    }
    const twice: string[] = [];
    for (const [name, value] of Object.entries(request.headers)) twice.push(name, value);
    twice.push('Authorization', auth);
    expect(code(await verifier.verify({ ...request, headers: twice }))).toBe(
      'AuthorizationHeaderMalformed',
    );
  });

  it('random bytes in every field', async () => {
    const request = await sign({ headers: unsigned });
    const verifier = s3Verifier();
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const noise = (length: number) =>
      String.fromCharCode(...Array.from({ length }, () => random() % 256));
    for (let i = 0; i < 300; i++) {
      const headers = { ...request.headers };
      const names = Object.keys(headers);
      const target = names[random() % names.length]!;
      headers[target] = noise(random() % 200);
      const rawPath = i % 3 === 0 ? `${request.rawPath}?${noise(random() % 100)}` : request.rawPath;
      const method = i % 7 === 0 ? noise(5) : request.method;
      const result = await verifier.verify({ ...request, method, rawPath, headers });
      expect4xx(result, `iteration ${i} (${target})`);
    }
  });

  it('a 64 KB signed header is canonicalised, not a crash; a 64 KB query works too', async () => {
    const big = 'v'.repeat(64 * 1024);
    const request = await sign({
      headers: { ...unsigned, 'x-amz-meta-big': big },
      query: { q: big },
    });
    expect(code(await s3Verifier().verify(request))).toBe('ok');
    const tampered = { ...request, headers: { ...request.headers, 'x-amz-meta-big': `${big}!` } };
    expect(code(await s3Verifier().verify(tampered))).toBe('SignatureDoesNotMatch');
  });

  it('no credentials at all', async () => {
    const result = await s3Verifier().verify({
      method: 'GET',
      rawPath: '/bucket/key',
      headers: { host: HOST },
    });
    expect(code(result)).toBe('MissingAuthenticationToken');
    expect4xx(result, 'anonymous');
  });

  it('prepareSigV4Request reports the same refusals without a lookup', async () => {
    const request = await sign({ headers: unsigned });
    const prepared = prepareSigV4Request(request, { service: 's3', region: 'us-east-1', now: NOW });
    expect(prepared).not.toBeInstanceOf(SigV4Error);
    const refused = prepareSigV4Request(request, { service: 's3', region: 'eu-west-1', now: NOW });
    expect(refused).toBeInstanceOf(SigV4Error);
  });
});
