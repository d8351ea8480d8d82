import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type BodyVerifier,
  bodyVerifierStream,
  createAwsChunkedDecoder,
  createChecksum,
  createSigV4Verifier,
  deriveSigningKey,
  EMPTY_SHA256,
  type SigV4Request,
} from '../src/index.js';

/**
 * AWS's documented example of a signed chunked upload ("Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks", S3 API reference): 66 560 bytes
 * of "a" in a 65 536-byte chunk, a 1 024-byte chunk and the final empty chunk.
 */
const DOC = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  now: Date.parse('2013-05-24T00:00:00Z'),
  seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  chunkSignatures: [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ],
};

function docRequest(): SigV4Request {
  return {
    method: 'PUT',
    rawPath: '/examplebucket/chunkObject.txt',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization: `AWS4-HMAC-SHA256 Credential=${DOC.accessKeyId}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${DOC.seedSignature}`,
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
    },
  };
}

function docBody(signatures = DOC.chunkSignatures, chunks = [65536, 1024]): Buffer {
  const parts: Buffer[] = [];
  chunks.forEach((size, i) => {
    parts.push(
      Buffer.from(`${size.toString(16)};chunk-signature=${signatures[i]}\r\n`),
      Buffer.alloc(size, 'a'),
      Buffer.from('\r\n'),
    );
  });
  parts.push(Buffer.from(`0;chunk-signature=${signatures[chunks.length]}\r\n\r\n`));
  return Buffer.concat(parts);
}

const docVerifier = () =>
  createSigV4Verifier({
    service: 's3',
    region: 'us-east-1',
    clock: () => DOC.now,
    lookupKey: (id) => (id === DOC.accessKeyId ? { secret: DOC.secret, principal: 'doc' } : null),
  });

async function docDecoder(): Promise<BodyVerifier> {
  const result = await docVerifier().verify(docRequest());
  if (!result.ok) throw result.error;
  expect(result.payload).toEqual({
    type: 'streaming',
    signed: true,
    trailer: false,
    decodedContentLength: 66560,
    trailerNames: [],
  });
  return result.createBodyVerifier();
}

function feed(verifier: BodyVerifier, body: Buffer, pieceSize: number): Buffer {
  const out: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += pieceSize)
    out.push(...verifier.update(body.subarray(i, i + pieceSize)));
  out.push(...verifier.final());
  return Buffer.concat(out);
}

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD (AWS documentation example)', () => {
  it('verifies the seed signature and every chunk signature, whatever the read sizes', async () => {
    expect(docBody().length).toBe(66824);
    for (const pieceSize of [1, 7, 88, 1000, 65536, 100_000]) {
      const decoded = feed(await docDecoder(), docBody(), pieceSize);
      expect(decoded.equals(Buffer.alloc(66560, 'a')), `piece size ${pieceSize}`).toBe(true);
    }
  });

  it('releases a chunk only after its signature verified', async () => {
    const verifier = await docDecoder();
    const body = docBody();
    // Everything up to the last byte of chunk 1's data: nothing is released yet.
    expect(verifier.update(body.subarray(0, 88 + 65535))).toEqual([]);
    const released = verifier.update(body.subarray(88 + 65535, 88 + 65538));
    expect(Buffer.concat(released).length).toBe(65536);
  });

  it('refuses a tampered chunk, a wrong chunk signature and a wrong final signature', async () => {
    const tampered = docBody();
    tampered[88 + 65538 + 86 + 10] = 'b'.charCodeAt(0);
    const verifier = await docDecoder();
    const out: Uint8Array[] = [];
    expect(() => {
      for (let i = 0; i < tampered.length; i += 1024)
        out.push(...verifier.update(tampered.subarray(i, i + 1024)));
    }).toThrow(expect.objectContaining({ code: 'SignatureDoesNotMatch' }));
    // Only the first, verified chunk got out.
    expect(Buffer.concat(out).length).toBe(65536);
    expect(() => verifier.update(Buffer.from('x'))).toThrow(
      expect.objectContaining({ code: 'SignatureDoesNotMatch' }),
    );

    for (const index of [0, 1, 2]) {
      const signatures = [...DOC.chunkSignatures];
      signatures[index] = signatures[index]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      await expect(
        (async () => feed(await docDecoder(), docBody(signatures), 5000))(),
      ).rejects.toMatchObject({
        code: 'SignatureDoesNotMatch',
      });
    }
  });

  it('refuses truncated bodies, trailing garbage, bad framing and a wrong decoded length', async () => {
    const body = docBody();
    for (const cut of [0, 10, 88, 88 + 65538, body.length - 2, body.length - 1]) {
      await expect(
        (async () => feed(await docDecoder(), body.subarray(0, cut), 4096))(),
      ).rejects.toMatchObject({ code: 'IncompleteBody' });
    }
    await expect(
      (async () => feed(await docDecoder(), Buffer.concat([body, Buffer.from('x')]), 4096))(),
    ).rejects.toMatchObject({
      code: 'InvalidRequest',
    });
    const noCrlf = Buffer.from(body);
    noCrlf[88 + 65536] = 0x20;
    await expect((async () => feed(await docDecoder(), noCrlf, 4096))()).rejects.toMatchObject({
      code: 'InvalidRequest',
    });
    const badHeader = Buffer.concat([Buffer.from('zz;chunk-signature=00\r\n'), body]);
    await expect((async () => feed(await docDecoder(), badHeader, 4096))()).rejects.toMatchObject({
      code: 'InvalidRequest',
    });
    const endless = Buffer.alloc(20_000, 'f');
    await expect((async () => feed(await docDecoder(), endless, 4096))()).rejects.toMatchObject({
      code: 'InvalidRequest',
    });
    // Declared 66 560 decoded bytes; a 70 000-byte chunk is more than that.
    const tooLong = Buffer.from(`11170;chunk-signature=${DOC.chunkSignatures[0]}\r\n`);
    await expect((async () => feed(await docDecoder(), tooLong, 4096))()).rejects.toMatchObject({
      code: 'InvalidRequest',
    });
  });

  it('requires x-amz-decoded-content-length', async () => {
    const request = docRequest();
    const { 'x-amz-decoded-content-length': _drop, ...headers } = request.headers as Record<
      string,
      string
    >;
    const result = await docVerifier().verify({ ...request, headers });
    // The header is signed, so it is reported missing before anything else.
    expect(result.ok ? 'ok' : result.error.code).toBe('AuthorizationHeaderMalformed');
  });

  it('works as a node Transform', async () => {
    const result = await docVerifier().verify(docRequest());
    if (!result.ok) throw result.error;
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([docBody()]),
      bodyVerifierStream(result.createBodyVerifier()),
      async (source) => {
        for await (const chunk of source) chunks.push(chunk as Buffer);
      },
    );
    expect(Buffer.concat(chunks).length).toBe(66560);
    const bad = docBody();
    bad[200] = 0x62;
    const second = await docVerifier().verify(docRequest());
    if (!second.ok) throw second.error;
    await expect(
      pipeline(
        Readable.from([bad]),
        bodyVerifierStream(second.createBodyVerifier()),
        async (source) => {
          for await (const _ of source) {
          }
        },
      ),
    ).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
  });
});

describe('checksums', () => {
  it('match the standard check values of "123456789"', () => {
    const check = (algorithm: Parameters<typeof createChecksum>[0]) => {
      const checksum = createChecksum(algorithm);
      checksum.update(Buffer.from('12345'));
      checksum.update(Buffer.from('6789'));
      return Buffer.from(checksum.digestBase64(), 'base64').toString('hex');
    };
    expect(check('crc32')).toBe('cbf43926');
    expect(check('crc32c')).toBe('e3069283');
    expect(check('crc64nvme')).toBe('ae8b14860a799888');
    expect(check('sha1')).toBe('f7c3bc1d808e04732adf679965ccc34ca7ae3441');
    expect(check('sha256')).toBe(
      '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225',
    );
  });
});

function crc32Base64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
}

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  const data = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(300));
  const framed = (payload: Buffer, trailer: string) =>
    Buffer.concat([
      Buffer.from(`2000\r\n`),
      payload.subarray(0, 0x2000),
      Buffer.from('\r\n'),
      Buffer.from(`${(payload.length - 0x2000).toString(16)}\r\n`),
      payload.subarray(0x2000),
      Buffer.from('\r\n0\r\n'),
      Buffer.from(trailer),
    ]);
  const decoder = () =>
    createAwsChunkedDecoder({
      trailer: true,
      decodedContentLength: data.length,
      trailerNames: ['x-amz-checksum-crc32'],
    });

  it('streams the data and checks the checksum trailer', () => {
    const body = framed(data, `x-amz-checksum-crc32:${crc32Base64(data)}\r\n\r\n`);
    for (const size of [1, 13, 4096, body.length])
      expect(feed(decoder(), body, size).equals(data)).toBe(true);
    // Without the closing empty line (seen from some clients) it is still complete.
    const short = framed(data, `x-amz-checksum-crc32:${crc32Base64(data)}\r\n`);
    expect(feed(decoder(), short, 100).equals(data)).toBe(true);
  });

  it('BadDigest on a wrong checksum; IncompleteBody when the trailer is missing', () => {
    const wrong = framed(data, `x-amz-checksum-crc32:${crc32Base64(Buffer.from('other'))}\r\n\r\n`);
    expect(() => feed(decoder(), wrong, 512)).toThrow(
      expect.objectContaining({ code: 'BadDigest' }),
    );
    const missing = framed(data, '\r\n');
    expect(() => feed(decoder(), missing, 512)).toThrow(
      expect.objectContaining({ code: 'IncompleteBody' }),
    );
    const undeclared = framed(
      data,
      `x-amz-checksum-crc32:${crc32Base64(data)}\r\nx-amz-checksum-sha1:AAAA\r\n\r\n`,
    );
    expect(() => feed(decoder(), undeclared, 512)).toThrow(
      expect.objectContaining({ code: 'InvalidRequest' }),
    );
  });
});

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', () => {
  it('verifies chunk signatures, then the trailer signature and checksum', () => {
    const signingKey = deriveSigningKey('secret', '20260301', 'us-east-1', 's3');
    const amzDate = '20260301T120000Z';
    const scope = '20260301/us-east-1/s3/aws4_request';
    const seed = 'a'.repeat(64);
    const hmac = (s: string) => createHmac('sha256', signingKey).update(s).digest('hex');
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const data = Buffer.from('hello, trailing world');
    const sig1 = hmac(
      `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${seed}\n${EMPTY_SHA256}\n${sha(data)}`,
    );
    const sig2 = hmac(
      `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${sig1}\n${EMPTY_SHA256}\n${EMPTY_SHA256}`,
    );
    const trailerLine = `x-amz-checksum-crc32:${crc32Base64(data)}`;
    const trailerSig = hmac(
      `AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n${sig2}\n${sha(`${trailerLine}\n`)}`,
    );
    const body = (trailerSignature: string) =>
      Buffer.concat([
        Buffer.from(`${data.length.toString(16)};chunk-signature=${sig1}\r\n`),
        data,
        Buffer.from(
          `\r\n0;chunk-signature=${sig2}\r\n${trailerLine}\r\nx-amz-trailer-signature:${trailerSignature}\r\n\r\n`,
        ),
      ]);
    const decoder = () =>
      createAwsChunkedDecoder({
        signing: { signingKey, amzDate, scope, seedSignature: seed },
        trailer: true,
        decodedContentLength: data.length,
        trailerNames: ['x-amz-checksum-crc32'],
      });
    expect(feed(decoder(), body(trailerSig), 9).equals(data)).toBe(true);
    expect(() => feed(decoder(), body('0'.repeat(64)), 9)).toThrow(
      expect.objectContaining({ code: 'SignatureDoesNotMatch' }),
    );
  });
});
