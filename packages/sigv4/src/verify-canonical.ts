// Stage 3 of verification (order in verify.ts): canonical request and payload. Checks, in this
// order: every signed header is present; for S3, every `x-amz-*` header is signed; the payload
// (S3: `x-amz-content-sha256` — a SHA-256 checked against a given body, `UNSIGNED-PAYLOAD`, or an
// aws-chunked streaming mode with its decoded length and trailers; other services: the SHA-256
// of the given body). Then builds the canonical request and string to sign from the primitives
// of canonical.ts. Nothing here needs the key.
import {
  canonicalHeaders,
  canonicalPath,
  canonicalQuery,
  canonicalRequest,
  EMPTY_SHA256,
  type HeaderMap,
  type QueryParameter,
  sha256Hex,
} from './canonical.js';
import { isChecksumAlgorithm } from './checksums.js';
import { quote, SigV4Error } from './errors.js';
import {
  hoistedContentSha256,
  isPresignedChecksumHeader,
  withoutSignature,
  withoutSignatureOrToken,
} from './verify-presigned.js';
import type { SigV4Payload, SigV4Request, VerifierConfig } from './verify-types.js';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const STREAMING_MODES: Readonly<Record<string, { signed: boolean; trailer: boolean }>> = {
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signed: true, trailer: false },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signed: false, trailer: true },
};

/** Every signed header must be there; for S3, every `x-amz-*` header must be signed. */
export function checkSignedHeaders(
  config: VerifierConfig,
  form: 'header' | 'query',
  headers: HeaderMap,
  signedHeaders: readonly string[],
): void {
  for (const name of signedHeaders) {
    if (!headers.has(name)) {
      throw new SigV4Error(
        form === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError',
        `The signed header ${quote(name)} is not present in the request.`,
      );
    }
  }
  if (!config.s3) return;
  const notSigned: string[] = [];
  for (const name of headers.keys()) {
    if (!name.startsWith('x-amz-') || signedHeaders.includes(name)) continue;
    // A client may add a checksum of what it uploads to a presigned URL; S3 ignores those.
    if (form === 'query' && isPresignedChecksumHeader(name)) continue;
    notSigned.push(name);
  }
  if (notSigned.length > 0) {
    throw new SigV4Error(
      'AccessDenied',
      'There were headers present in the request which were not signed',
      { HeadersNotSigned: notSigned.join(', ') },
    );
  }
}

/** How the body relates to the signature. */
export function payloadOf(
  config: VerifierConfig,
  request: SigV4Request,
  headers: HeaderMap,
  form: 'header' | 'query',
  params: readonly QueryParameter[],
): SigV4Payload {
  if (!config.s3) {
    if (request.body !== undefined)
      return { type: 'sha256', hash: sha256Hex(request.body), verified: true };
    if (request.bodyHash !== undefined) {
      if (!SHA256_HEX.test(request.bodyHash))
        throw new SigV4Error('InternalError', 'bodyHash must be a hex SHA-256.');
      return { type: 'sha256', hash: request.bodyHash.toLowerCase(), verified: true };
    }
    return { type: 'sha256', hash: EMPTY_SHA256, verified: false };
  }
  const headerValues = headers.get('x-amz-content-sha256');
  if (headerValues && headerValues.length !== 1) {
    throw new SigV4Error('InvalidArgument', 'x-amz-content-sha256 appears more than once.');
  }
  let value = headerValues?.[0]?.trim();
  if (form === 'query') {
    const hoisted = hoistedContentSha256(params);
    if (hoisted !== undefined) value = hoisted;
    else if (value === undefined) return { type: 'unsigned' };
  } else if (value === undefined) {
    throw new SigV4Error(
      'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  if (value === 'UNSIGNED-PAYLOAD') return { type: 'unsigned' };
  if (SHA256_HEX.test(value)) {
    const hash = value.toLowerCase();
    const given =
      request.body !== undefined ? sha256Hex(request.body) : request.bodyHash?.toLowerCase();
    if (given !== undefined && given !== hash) throw new SigV4Error('XAmzContentSHA256Mismatch');
    return { type: 'sha256', hash: value, verified: given !== undefined };
  }
  const mode = STREAMING_MODES[value];
  if (mode && form === 'header') return streamingPayload(headers, mode);
  if (mode) throw new SigV4Error('InvalidRequest', 'Streaming payloads cannot be presigned.');
  throw new SigV4Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.',
    { ArgumentName: 'x-amz-content-sha256' },
  );
}

/** An aws-chunked body: its decoded length is required, its trailers must be checksums. */
function streamingPayload(
  headers: HeaderMap,
  mode: { signed: boolean; trailer: boolean },
): SigV4Payload {
  const decoded = headers.get('x-amz-decoded-content-length');
  if (decoded?.length !== 1 || !/^\d{1,15}$/.test(decoded[0]!.trim())) {
    throw new SigV4Error(
      'MissingContentLength',
      'x-amz-decoded-content-length is required for streaming uploads.',
    );
  }
  const trailerNames = (headers.get('x-amz-trailer') ?? [])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== '');
  if (trailerNames.length > 0 && !mode.trailer) {
    throw new SigV4Error('InvalidRequest', 'x-amz-trailer requires a STREAMING-…-TRAILER payload.');
  }
  for (const name of trailerNames) {
    if (
      !name.startsWith('x-amz-checksum-') ||
      !isChecksumAlgorithm(name.slice('x-amz-checksum-'.length))
    ) {
      throw new SigV4Error('InvalidRequest', `Unsupported trailer ${quote(name)}.`);
    }
  }
  return {
    type: 'streaming',
    signed: mode.signed,
    trailer: mode.trailer,
    decodedContentLength: Number(decoded[0]!.trim()),
    trailerNames,
  };
}

/** The canonical request, and for a presigned URL with a token the variant without it. */
export interface CanonicalForms {
  readonly canonicalRequest: string;
  readonly canonicalRequestWithoutToken: (() => string) | undefined;
}

/** Builds the canonical request the client must have signed. */
export function buildCanonicalRequest(
  config: VerifierConfig,
  parts: {
    readonly method: string;
    readonly rawPath: string;
    readonly params: readonly QueryParameter[];
    readonly headers: HeaderMap;
    readonly signedHeaders: readonly string[];
    readonly payload: SigV4Payload;
    readonly form: 'header' | 'query';
    readonly hasSecurityToken: boolean;
  },
): CanonicalForms {
  const { payload, headers, form } = parts;
  const payloadHash =
    payload.type === 'sha256'
      ? payload.hash
      : payload.type === 'unsigned'
        ? 'UNSIGNED-PAYLOAD'
        : headers.get('x-amz-content-sha256')![0]!.trim();
  const path = canonicalPath(parts.rawPath, {
    normalize: config.normalizePath,
    encodeTwice: config.encodePathTwice,
  });
  const headerBlock = canonicalHeaders(headers, parts.signedHeaders);
  const signedHeaderList = parts.signedHeaders.join(';');
  const build = (exclude: ((p: QueryParameter) => boolean) | undefined) =>
    canonicalRequest({
      method: parts.method,
      path,
      query: canonicalQuery(parts.params, exclude),
      headers: headerBlock,
      signedHeaders: signedHeaderList,
      payloadHash,
    });
  const query = form === 'query';
  return {
    canonicalRequest: build(query ? withoutSignature : undefined),
    canonicalRequestWithoutToken:
      query && parts.hasSecurityToken ? () => build(withoutSignatureOrToken) : undefined,
  };
}
