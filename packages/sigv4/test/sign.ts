import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SigV4Request } from '../src/index.js';

/** Credentials used across the tests (AWS's documentation example key). */
export const KEY = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
export const NOW = Date.parse('2026-03-01T12:00:00Z');
export const HOST = 'example.test:9000';

export interface SignInput {
  method?: string;
  /** Already percent-encoded path, as it goes on the wire. */
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  service?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  date?: number;
  /** Let the signer add `x-amz-content-sha256` (S3 clients do). Default: true. */
  applyChecksum?: boolean;
}

function signerFor(input: SignInput): SignatureV4 {
  const service = input.service ?? 's3';
  return new SignatureV4({
    service,
    region: input.region ?? 'us-east-1',
    credentials: input.credentials ?? KEY,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: service !== 's3',
    applyChecksum: input.applyChecksum ?? true,
  });
}

function httpRequestOf(input: SignInput): HttpRequest {
  return new HttpRequest({
    method: input.method ?? 'GET',
    protocol: 'http:',
    hostname: 'example.test',
    port: 9000,
    path: input.path ?? '/bucket/key',
    query: input.query ?? {},
    headers: { host: HOST, ...input.headers },
    body: input.body,
  });
}

/** Serialises a query the way the SDK puts it on the wire (RFC 3986, `!'()*` encoded too). */
function encode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function toSigV4Request(
  request: HttpRequest,
): SigV4Request & { headers: Record<string, string> } {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(request.query ?? {})) {
    for (const v of ([] as (string | null)[]).concat(value ?? '')) {
      parts.push(v === null ? encode(name) : `${encode(name)}=${encode(v)}`);
    }
  }
  return {
    method: request.method,
    rawPath: request.path + (parts.length > 0 ? `?${parts.join('&')}` : ''),
    headers: { ...request.headers },
    ...(request.body !== undefined ? { body: request.body as string } : {}),
  };
}

/** Signs with the AWS SDK's own signer (header form). */
export async function sign(input: SignInput = {}) {
  const signed = await signerFor(input).sign(httpRequestOf(input), {
    signingDate: new Date(input.date ?? NOW),
  });
  return toSigV4Request(signed as HttpRequest);
}

/**
 * Presigns with the AWS SDK's own signer (query form). For S3 it prepares the request as
 * `@aws-sdk/s3-request-presigner` does: `X-Amz-Content-Sha256: UNSIGNED-PAYLOAD`, hoisted.
 */
export async function presign(input: SignInput & { expiresIn?: number } = {}) {
  const s3 = (input.service ?? 's3') === 's3';
  const request = httpRequestOf(
    s3
      ? { ...input, headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD', ...input.headers } }
      : input,
  );
  const signed = await signerFor(input).presign(request, {
    signingDate: new Date(input.date ?? NOW),
    expiresIn: input.expiresIn ?? 900,
  });
  return toSigV4Request(signed as HttpRequest);
}
