import { timingSafeEqual } from 'node:crypto';
import {
  type BodyVerifier,
  createAwsChunkedDecoder,
  passThroughBody,
  sha256CheckedBody,
} from './body.js';
import {
  canonicalHeaders,
  canonicalPath,
  canonicalQuery,
  canonicalRequest,
  EMPTY_SHA256,
  type HeaderMap,
  parseQuery,
  type QueryParameter,
  sha256Hex,
  stringToSign,
} from './canonical.js';
import { isChecksumAlgorithm } from './checksums.js';
import { SigV4Error, type SigV4ErrorCode } from './errors.js';
import {
  createSigningKeyCache,
  deriveSigningKey,
  hmacSha256,
  type SigningKeyCache,
  secretFingerprint,
} from './signing-key.js';

/**
 * Request headers in one of the shapes that keep repeated headers apart:
 * - an object of name → value(s), like node's `req.headersDistinct` (names in any case);
 * - node's `req.rawHeaders` (`[name, value, name, value, …]`);
 * - an iterable of `[name, value]` pairs.
 * Do not pass node's `req.headers`: it joins repeated headers with `", "`, which changes their
 * canonical form (SigV4 joins them with `","`).
 */
export type SigV4Headers =
  | Readonly<Record<string, string | readonly string[] | undefined>>
  | readonly string[]
  | Iterable<readonly [string, string]>;

/** A request as it arrived, described without any framework type. */
export interface SigV4Request {
  /** HTTP method as received (`GET`, `PUT`, …). */
  readonly method: string;
  /**
   * The raw request target: path and query exactly as received, still percent-encoded
   * (node's `req.url`, express's `req.originalUrl`), never a re-serialised URL.
   * Absolute form (`http://host/path?…`) is accepted.
   */
  readonly rawPath: string;
  readonly headers: SigV4Headers;
  /**
   * The raw body, for services other than S3, which sign its SHA-256. Ignored for S3 (which
   * signs `x-amz-content-sha256`), except that a given body is checked against that header.
   */
  readonly body?: Uint8Array | string;
  /** Hex SHA-256 of the raw body, when the caller already computed it (instead of `body`). */
  readonly bodyHash?: string;
}

/** What {@link SigV4VerifierOptions.lookupKey} returns for a known access key. */
export interface SigV4Key<P = unknown> {
  /**
   * The secret access key, or a function returning it (e.g. decrypting it), which is only called
   * when no signing key derived from it is cached. Never logged, returned or cached by the
   * verifier. A function may throw a {@link SigV4Error} to refuse the request.
   */
  readonly secret: string | Uint8Array | (() => string | Uint8Array);
  /**
   * Changes whenever the secret changes; part of the signing-key cache key. Default: a
   * SHA-256 fingerprint of the secret (costs one hash, and a call of a `secret` function, per
   * request).
   */
  readonly secretVersion?: string;
  /** Session credentials: the session token itself … */
  readonly sessionToken?: string;
  /** … or, preferably, its SHA-256 hex. A key with neither is a long-lived key. */
  readonly sessionTokenHash?: string;
  /** When the key stops being valid, in epoch ms; `null`/absent = never. */
  readonly expiresAt?: number | null;
  /** Whoever the key belongs to; handed back in the result. */
  readonly principal: P;
}

/** Options of {@link createSigV4Verifier}. */
export interface SigV4VerifierOptions<P = unknown> {
  /** The signing name of this endpoint, e.g. `s3`, `dynamodb`. Required. */
  service: string;
  /**
   * Region(s) the credential scope may name: one, a list, or `'*'` for any region. Required.
   */
  region: string | readonly string[];
  /**
   * Finds the key of an access key id: `null` when unknown. May throw a {@link SigV4Error} to
   * refuse with that code (e.g. `ExpiredToken`); any other throw means the key store is
   * unreachable and the request is refused with `ServiceUnavailable` (503), never let through.
   */
  lookupKey(accessKeyId: string): SigV4Key<P> | null | Promise<SigV4Key<P> | null>;
  /** Current time in epoch ms. Default: `Date.now`. */
  clock?: () => number;
  /**
   * Largest accepted difference between the request time and now, in ms (header form), and how
   * far in the future a presigned URL may start. Default: `900_000` (15 minutes, as AWS).
   */
  maxSkew?: number;
  /**
   * Apply S3's rules: `x-amz-content-sha256` required (header form) and used as the payload hash,
   * presigned requests default to `UNSIGNED-PAYLOAD`, unsigned `x-amz-*` headers rejected,
   * aws-chunked bodies. Default: `service === 's3'`.
   */
  s3?: boolean;
  /** Remove `.`/`..` and repeated slashes from the path before signing. Default: `!s3`. */
  normalizePath?: boolean;
  /**
   * Encode the wire path once more (`%20` → `%2520`), as AWS does for every service but S3.
   * Otherwise each segment is decoded and encoded exactly once. Default: `!s3`.
   */
  encodePathTwice?: boolean;
  /**
   * Derived signing keys are cached per (access key, secret version, date, region, service).
   * Pass a shared cache, or `false` to re-derive on every request. Signature results are never
   * cached. Default: a private cache of 1 000 keys.
   */
  signingKeyCache?: SigningKeyCache | false;
  /**
   * Also accept presigned URLs whose `X-Amz-Security-Token` was appended after signing (as some
   * IoT/WebSocket clients do); the token is still checked against the key. Default: `false`.
   */
  allowUnsignedSessionToken?: boolean;
  /** Largest aws-chunked chunk accepted, in bytes. Default: `16 MiB`. */
  maxChunkSize?: number;
}

/** How the body relates to the signature. */
export type SigV4Payload =
  | {
      readonly type: 'sha256';
      /** The signed SHA-256 of the body. */
      readonly hash: string;
      /** The hash was computed from the body given to `verify` (nothing left to check). */
      readonly verified: boolean;
    }
  | { readonly type: 'unsigned' }
  | {
      readonly type: 'streaming';
      /** Chunk signatures (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD*`), or none (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`). */
      readonly signed: boolean;
      readonly trailer: boolean;
      readonly decodedContentLength: number;
      readonly trailerNames: readonly string[];
    };

/** An accepted request. */
export interface SigV4Success<P = unknown> {
  readonly ok: true;
  readonly accessKeyId: string;
  readonly principal: P;
  /** `header` (Authorization) or `query` (presigned URL). */
  readonly form: 'header' | 'query';
  /** The credential scope's region and service. */
  readonly region: string;
  readonly service: string;
  /** Signing time in epoch ms. */
  readonly requestTime: number;
  /** `true` for session (temporary) credentials. */
  readonly session: boolean;
  /** When the key expires (epoch ms), `null` = never. */
  readonly expiresAt: number | null;
  readonly signedHeaders: readonly string[];
  readonly payload: SigV4Payload;
  /** The canonical request the signature was checked against. */
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  /**
   * A verifier for the body the signature vouches for: checks `x-amz-content-sha256`, or decodes
   * and verifies an aws-chunked body. Every request body must go through it unless
   * `payload.type` is `unsigned` or `payload.verified` is true.
   */
  createBodyVerifier(): BodyVerifier;
}

/** A refused request: answer with {@link sigv4ErrorResponse}(`error`). */
export interface SigV4Failure {
  readonly ok: false;
  readonly error: SigV4Error;
}

export type SigV4Result<P = unknown> = SigV4Success<P> | SigV4Failure;

/** A configured verifier. */
export interface SigV4Verifier<P = unknown> {
  /** Verifies a request. Never throws: every refusal is `{ ok: false, error }`. */
  verify(request: SigV4Request, options?: { now?: number }): Promise<SigV4Result<P>>;
  /** Parses and canonicalises without any lookup; see {@link prepareSigV4Request}. */
  prepare(request: SigV4Request, options?: { now?: number }): PreparedSigV4 | SigV4Error;
  readonly signingKeyCache: SigningKeyCache | undefined;
  /** S3 rules apply; `false` means the body's hash is signed, so callers must pass the body. */
  readonly s3: boolean;
}

/** The pieces of a parsed and canonicalised request, before any key is looked up. */
export interface PreparedSigV4 {
  readonly form: 'header' | 'query';
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly scope: string;
  readonly amzDate: string;
  readonly requestTime: number;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  readonly securityToken: string | undefined;
  readonly payload: SigV4Payload;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  /** For presigned requests with a security token: the canonical request without it. */
  readonly canonicalRequestWithoutToken: (() => string) | undefined;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_AUTHORIZATION_LENGTH = 8 * 1024;
const MAX_PRESIGN_EXPIRES = 604_800;
const ACCESS_KEY_ID = /^[A-Za-z0-9_+=.@-]{1,128}$/;
const SCOPE_PART = /^[A-Za-z0-9_-]{1,64}$/;
const SCOPE_DATE = /^\d{8}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const STREAMING_MODES: Readonly<Record<string, { signed: boolean; trailer: boolean }>> = {
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { signed: true, trailer: false },
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { signed: true, trailer: true },
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { signed: false, trailer: true },
};
/** Query parameters of the presigned form; each may appear at most once. */
const QUERY_AUTH_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
] as const;

/** Echoes a client-supplied value in a message without letting it grow or carry control characters. */
function quote(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return `"${clean.length > 64 ? `${clean.slice(0, 64)}…` : clean}"`;
}

function toHeaderMap(headers: SigV4Headers): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    const values = map.get(key);
    if (values) values.push(value);
    else map.set(key, [value]);
  };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [name, value] of headers as unknown as Array<[string, string]>)
        add(name, String(value));
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2)
        add(String(headers[i]), String(headers[i + 1]));
    }
  } else if (
    headers !== null &&
    typeof headers === 'object' &&
    typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
  ) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>)
      add(name, String(value));
  } else if (headers !== null && typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const v of value) add(name, String(v));
      else add(name, String(value));
    }
  }
  // HTTP/2 carries the host in the :authority pseudo-header.
  const authority = map.get(':authority');
  if (!map.has('host') && authority) map.set('host', authority);
  return map;
}

function parseAmzDate(value: string): number | undefined {
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const time = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(time);
  if (
    check.getUTCFullYear() !== y ||
    check.getUTCMonth() !== mo - 1 ||
    check.getUTCDate() !== d ||
    check.getUTCHours() !== h ||
    check.getUTCMinutes() !== mi ||
    check.getUTCSeconds() !== s
  ) {
    return undefined;
  }
  return time;
}

/** `yyyyMMdd'T'HHmmss'Z'` */
export function formatAmzDate(time: number): string {
  return new Date(time)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Time of an HTTP `Date` header (IMF-fixdate, as RFC 9110 requires senders to use). */
function parseHttpDate(value: string): number | undefined {
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value.trim())) {
    return undefined;
  }
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

interface RawAuth {
  form: 'header' | 'query';
  credential: string;
  signedHeaders: string;
  signature: string;
}

function parseAuthorizationHeader(values: readonly string[]): RawAuth {
  const bad = (why: string) =>
    new SigV4Error('AuthorizationHeaderMalformed', `The authorization header is malformed; ${why}`);
  if (values.length !== 1) throw bad('more than one Authorization header.');
  const value = values[0]!;
  if (value.length > MAX_AUTHORIZATION_LENGTH) throw bad('it is too long.');
  const trimmed = value.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space === -1 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new SigV4Error(
      'InvalidArgument',
      algorithm.startsWith('AWS4-')
        ? `Unsupported signing algorithm ${quote(algorithm)}; only AWS4-HMAC-SHA256 is accepted.`
        : 'Unsupported Authorization Type',
      { ArgumentName: 'Authorization' },
    );
  }
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(algorithm.length).split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad(`the authorization component ${quote(item)} is malformed.`);
    const name = item.slice(0, eq);
    if (name !== 'Credential' && name !== 'SignedHeaders' && name !== 'Signature') {
      throw bad(`the authorization component ${quote(name)} is not recognised.`);
    }
    if (fields.has(name)) throw bad(`the ${name} component appears twice.`);
    fields.set(name, item.slice(eq + 1));
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields.has(name)) throw bad(`the authorization header requires a ${name} component.`);
  }
  return {
    form: 'header',
    credential: fields.get('Credential')!,
    signedHeaders: fields.get('SignedHeaders')!,
    signature: fields.get('Signature')!,
  };
}

function scopeError(
  form: 'header' | 'query',
  why: string,
  details?: Record<string, string>,
): SigV4Error {
  return form === 'header'
    ? new SigV4Error(
        'AuthorizationHeaderMalformed',
        `The authorization header is malformed; ${why}`,
        details,
      )
    : new SigV4Error(
        'AuthorizationQueryParametersError',
        `Error parsing the X-Amz-Credential parameter; ${why}`,
        details,
      );
}

function parseCredential(form: 'header' | 'query', value: string): Credential {
  const parts = value.split('/');
  if (parts.length < 5) {
    throw scopeError(
      form,
      'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
    );
  }
  const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw scopeError(form, 'the access key id is malformed.');
  if (!SCOPE_DATE.test(date))
    throw scopeError(
      form,
      `incorrect date format ${quote(date)}. This date should be in the format YYYYMMDD.`,
    );
  if (!SCOPE_PART.test(region)) throw scopeError(form, `the region ${quote(region)} is malformed.`);
  if (!SCOPE_PART.test(service))
    throw scopeError(form, `the service ${quote(service)} is malformed.`);
  if (terminator !== 'aws4_request') {
    throw scopeError(
      form,
      `incorrect terminal ${quote(terminator)}. This endpoint uses "aws4_request".`,
    );
  }
  return { accessKeyId, date, region, service };
}

function parseSignedHeaders(form: 'header' | 'query', value: string): string[] {
  const code: SigV4ErrorCode =
    form === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError';
  const names = value.split(';');
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (!HEADER_NAME.test(name))
      throw new SigV4Error(code, `SignedHeaders contains an invalid header name ${quote(name)}.`);
    if (i > 0 && !(names[i - 1]! < name)) {
      throw new SigV4Error(
        code,
        'SignedHeaders must be lower case, sorted and without duplicates.',
      );
    }
  }
  if (!names.includes('host')) throw new SigV4Error(code, "SignedHeaders must include 'host'.");
  return names;
}

/** Creates a verifier. See {@link SigV4VerifierOptions} for defaults. */
export function createSigV4Verifier<P = unknown>(
  options: SigV4VerifierOptions<P>,
): SigV4Verifier<P> {
  if (!options || typeof options.service !== 'string' || !SCOPE_PART.test(options.service)) {
    throw new TypeError('createSigV4Verifier: options.service must be a signing name such as "s3"');
  }
  if (typeof options.lookupKey !== 'function') {
    throw new TypeError('createSigV4Verifier: options.lookupKey is required');
  }
  const regions =
    typeof options.region === 'string' ? [options.region] : [...(options.region ?? [])];
  if (regions.length === 0) throw new TypeError('createSigV4Verifier: options.region is required');
  const anyRegion = regions.includes('*');
  const clock = options.clock ?? Date.now;
  const maxSkew = options.maxSkew ?? 900_000;
  const s3 = options.s3 ?? options.service === 's3';
  const normalize = options.normalizePath ?? !s3;
  const encodeTwice = options.encodePathTwice ?? !s3;
  const cache =
    options.signingKeyCache === false
      ? undefined
      : (options.signingKeyCache ?? createSigningKeyCache());

  function prepare(request: SigV4Request, now: number): PreparedSigV4 {
    if (!request || typeof request.method !== 'string' || typeof request.rawPath !== 'string') {
      throw new SigV4Error('InvalidRequest', 'The request has no method or path.');
    }
    const headers = toHeaderMap(request.headers ?? {});
    let target = request.rawPath;
    const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
    if (absolute) target = target.slice(absolute[0].length) || '/';
    const hash = target.indexOf('#');
    if (hash !== -1) target = target.slice(0, hash);
    const q = target.indexOf('?');
    const rawPath = q === -1 ? target : target.slice(0, q);
    const params = parseQuery(q === -1 ? '' : target.slice(q + 1));

    const authorization = headers.get('authorization');
    const queryAuth = params.some(
      (p) =>
        p.name === 'X-Amz-Algorithm' ||
        p.name === 'X-Amz-Credential' ||
        p.name === 'X-Amz-Signature',
    );
    if (authorization && queryAuth) {
      throw new SigV4Error(
        'InvalidArgument',
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.',
        { ArgumentName: 'Authorization' },
      );
    }
    if (!authorization && !queryAuth) throw new SigV4Error('MissingAuthenticationToken');

    let raw: RawAuth;
    let amzDate: string;
    let requestTime: number;
    let expires = 0;
    let securityToken: string | undefined;
    const queryValues = new Map<string, string>();
    if (authorization) {
      raw = parseAuthorizationHeader(authorization);
      const xAmzDate = headers.get('x-amz-date');
      if (xAmzDate) {
        const value = xAmzDate.length === 1 ? xAmzDate[0]!.trim() : '';
        const time = parseAmzDate(value);
        if (time === undefined) {
          throw new SigV4Error(
            'AccessDenied',
            'AWS authentication requires a valid Date or x-amz-date header',
          );
        }
        requestTime = time;
        // Exactly what the client signed.
        amzDate = value;
      } else {
        const date = headers.get('date');
        const time = date?.length === 1 ? parseHttpDate(date[0]!) : undefined;
        if (time === undefined) {
          throw new SigV4Error(
            'AccessDenied',
            'AWS authentication requires a valid Date or x-amz-date header',
          );
        }
        requestTime = time;
        amzDate = formatAmzDate(requestTime);
      }
      const tokens = headers.get('x-amz-security-token');
      if (tokens) {
        if (tokens.length !== 1)
          throw new SigV4Error('InvalidToken', 'More than one security token.');
        securityToken = tokens[0]!.trim();
      }
    } else {
      const bad = (why: string) => new SigV4Error('AuthorizationQueryParametersError', why);
      for (const p of params) {
        if (!(QUERY_AUTH_PARAMS as readonly string[]).includes(p.name)) continue;
        if (queryValues.has(p.name)) throw bad(`The ${p.name} parameter appears more than once.`);
        queryValues.set(p.name, p.value);
      }
      for (const name of QUERY_AUTH_PARAMS) {
        if (name !== 'X-Amz-Security-Token' && !queryValues.has(name)) {
          throw bad(
            'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
          );
        }
      }
      if (queryValues.get('X-Amz-Algorithm') !== ALGORITHM) {
        throw bad('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
      }
      const time = parseAmzDate(queryValues.get('X-Amz-Date')!);
      if (time === undefined) {
        throw bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
      }
      requestTime = time;
      amzDate = queryValues.get('X-Amz-Date')!;
      const expiresValue = queryValues.get('X-Amz-Expires')!;
      if (!/^\d{1,10}$/.test(expiresValue)) {
        throw bad('X-Amz-Expires should be a number');
      }
      expires = Number(expiresValue);
      if (expires > MAX_PRESIGN_EXPIRES) {
        throw bad('X-Amz-Expires must be less than a week (in seconds) that is 604800');
      }
      securityToken = queryValues.get('X-Amz-Security-Token');
      raw = {
        form: 'query',
        credential: queryValues.get('X-Amz-Credential')!,
        signedHeaders: queryValues.get('X-Amz-SignedHeaders')!,
        signature: queryValues.get('X-Amz-Signature')!,
      };
    }
    const { form } = raw;
    if (raw.credential.length > 512) throw scopeError(form, 'the Credential is too long.');
    const credential = parseCredential(form, raw.credential);
    if (!SIGNATURE.test(raw.signature)) {
      throw form === 'header'
        ? new SigV4Error(
            'AuthorizationHeaderMalformed',
            'The authorization header is malformed; the Signature must be 64 lower-case hex digits.',
          )
        : new SigV4Error(
            'AuthorizationQueryParametersError',
            'X-Amz-Signature must be 64 lower-case hex digits.',
          );
    }
    const signedHeaders = parseSignedHeaders(form, raw.signedHeaders);

    // Credential scope against this endpoint.
    if (credential.service !== options.service) {
      throw scopeError(
        form,
        `incorrect service ${quote(credential.service)}. This endpoint belongs to "${options.service}".`,
      );
    }
    if (!anyRegion && !regions.includes(credential.region)) {
      throw scopeError(
        form,
        `the region ${quote(credential.region)} is wrong; expecting "${regions[0]}"`,
        regions.length === 1 ? { Region: regions[0]! } : {},
      );
    }
    if (credential.date !== amzDate.slice(0, 8)) {
      throw scopeError(
        form,
        `Invalid credential date ${quote(credential.date)}. This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`,
      );
    }

    // Time.
    if (form === 'header') {
      if (Math.abs(now - requestTime) > maxSkew) {
        throw new SigV4Error('RequestTimeTooSkewed', undefined, {
          RequestTime: amzDate,
          ServerTime: new Date(now).toISOString(),
          MaxAllowedSkewMilliseconds: String(maxSkew),
        });
      }
    } else {
      if (requestTime - now > maxSkew)
        throw new SigV4Error('AccessDenied', 'Request is not valid yet');
      if (now > requestTime + expires * 1000) {
        throw new SigV4Error('AccessDenied', 'Request has expired', {
          'X-Amz-Expires': String(expires),
          Expires: new Date(requestTime + expires * 1000).toISOString(),
          ServerTime: new Date(now).toISOString(),
        });
      }
    }

    // Signed headers must be there; for S3, every x-amz-* header must be signed.
    for (const name of signedHeaders) {
      if (!headers.has(name)) {
        throw new SigV4Error(
          form === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError',
          `The signed header ${quote(name)} is not present in the request.`,
        );
      }
    }
    if (s3) {
      const notSigned: string[] = [];
      for (const name of headers.keys()) {
        if (!name.startsWith('x-amz-') || signedHeaders.includes(name)) continue;
        // A client may add a checksum of what it uploads to a presigned URL; S3 ignores those.
        if (
          form === 'query' &&
          (name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm')
        )
          continue;
        notSigned.push(name);
      }
      if (notSigned.length > 0) {
        throw new SigV4Error(
          'AccessDenied',
          'There were headers present in the request which were not signed',
          {
            HeadersNotSigned: notSigned.join(', '),
          },
        );
      }
    }

    const payload = payloadOf(request, headers, form, params);
    const payloadHash =
      payload.type === 'sha256'
        ? payload.hash
        : payload.type === 'unsigned'
          ? 'UNSIGNED-PAYLOAD'
          : headers.get('x-amz-content-sha256')![0]!.trim();

    const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
    const path = canonicalPath(rawPath, { normalize, encodeTwice });
    const headerBlock = canonicalHeaders(headers, signedHeaders);
    const signedHeaderList = signedHeaders.join(';');
    const build = (exclude: (p: QueryParameter) => boolean) =>
      canonicalRequest({
        method: request.method,
        path,
        query: canonicalQuery(params, exclude),
        headers: headerBlock,
        signedHeaders: signedHeaderList,
        payloadHash,
      });
    const canonical = build((p) => form === 'query' && p.name === 'X-Amz-Signature');
    return {
      form,
      ...credential,
      scope,
      amzDate,
      requestTime,
      signedHeaders,
      signature: raw.signature,
      securityToken,
      payload,
      canonicalRequest: canonical,
      stringToSign: stringToSign(amzDate, scope, canonical),
      canonicalRequestWithoutToken:
        form === 'query' && securityToken !== undefined
          ? () => build((p) => p.name === 'X-Amz-Signature' || p.name === 'X-Amz-Security-Token')
          : undefined,
    };
  }

  function payloadOf(
    request: SigV4Request,
    headers: HeaderMap,
    form: 'header' | 'query',
    params: readonly QueryParameter[],
  ): SigV4Payload {
    if (!s3) {
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
      const hoisted = params.filter((p) => p.name.toLowerCase() === 'x-amz-content-sha256');
      if (hoisted.length > 1) {
        throw new SigV4Error(
          'AuthorizationQueryParametersError',
          'X-Amz-Content-Sha256 appears more than once.',
        );
      }
      if (hoisted.length === 1) value = hoisted[0]!.value;
      else if (value === undefined) return { type: 'unsigned' };
    } else if (value === undefined) {
      throw new SigV4Error(
        'InvalidRequest',
        'Missing required header for this request: x-amz-content-sha256',
      );
    }
    if (value === 'UNSIGNED-PAYLOAD') return { type: 'unsigned' };
    if (SHA256_HEX.test(value!)) {
      const hash = value!.toLowerCase();
      const given =
        request.body !== undefined ? sha256Hex(request.body) : request.bodyHash?.toLowerCase();
      if (given !== undefined && given !== hash) throw new SigV4Error('XAmzContentSHA256Mismatch');
      return { type: 'sha256', hash: value!, verified: given !== undefined };
    }
    const mode = STREAMING_MODES[value!];
    if (mode && form === 'header') {
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
        throw new SigV4Error(
          'InvalidRequest',
          'x-amz-trailer requires a STREAMING-…-TRAILER payload.',
        );
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
    if (mode) throw new SigV4Error('InvalidRequest', 'Streaming payloads cannot be presigned.');
    throw new SigV4Error(
      'InvalidArgument',
      'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.',
      { ArgumentName: 'x-amz-content-sha256' },
    );
  }

  async function lookup(accessKeyId: string): Promise<SigV4Key<P> | null> {
    try {
      return await options.lookupKey(accessKeyId);
    } catch (error) {
      if (error instanceof SigV4Error) throw error;
      // An unreachable key store is an outage, never a refusal and never a bypass.
      throw new SigV4Error('ServiceUnavailable');
    }
  }

  function checkSessionToken(key: SigV4Key<P>, token: string | undefined): void {
    const expectedHash =
      key.sessionTokenHash?.toLowerCase() ??
      (key.sessionToken !== undefined ? sha256Hex(key.sessionToken) : undefined);
    if (expectedHash === undefined) {
      if (token !== undefined) {
        throw new SigV4Error(
          'InvalidToken',
          'A security token was given for a long-lived access key.',
        );
      }
      return;
    }
    if (token === undefined)
      throw new SigV4Error('InvalidToken', 'This access key requires a security token.');
    // Both sides are hashed first, so the comparison is constant-time whatever the lengths.
    const given = Buffer.from(sha256Hex(token), 'hex');
    const expected = Buffer.from(expectedHash, 'hex');
    if (expected.length !== given.length || !timingSafeEqual(given, expected)) {
      throw new SigV4Error(
        'InvalidToken',
        'The security token included in the request is invalid.',
      );
    }
  }

  async function verifyOrThrow(request: SigV4Request, now: number): Promise<SigV4Success<P>> {
    const prepared = prepare(request, now);
    const key = await lookup(prepared.accessKeyId);
    if (key === null)
      throw new SigV4Error('InvalidAccessKeyId', undefined, {
        AWSAccessKeyId: prepared.accessKeyId,
      });
    const expiresAt = key.expiresAt ?? null;
    if (expiresAt !== null && now >= expiresAt) throw new SigV4Error('ExpiredToken');
    checkSessionToken(key, prepared.securityToken);

    const secretOf = () => (typeof key.secret === 'function' ? key.secret() : key.secret);
    // Without a secretVersion the secret is needed for the fingerprint anyway: fetch it once.
    const known = key.secretVersion === undefined ? secretOf() : undefined;
    const version = key.secretVersion ?? secretFingerprint(known!);
    const derive = () =>
      deriveSigningKey(known ?? secretOf(), prepared.date, prepared.region, prepared.service);
    const signingKey = cache
      ? cache.get(
          prepared.accessKeyId,
          version,
          prepared.date,
          prepared.region,
          prepared.service,
          derive,
        )
      : derive();
    const provided = Buffer.from(prepared.signature, 'hex');
    let canonical = prepared.canonicalRequest;
    let toSign = prepared.stringToSign;
    let matches = timingSafeEqual(hmacSha256(signingKey, toSign), provided);
    if (!matches && options.allowUnsignedSessionToken && prepared.canonicalRequestWithoutToken) {
      canonical = prepared.canonicalRequestWithoutToken();
      toSign = stringToSign(prepared.amzDate, prepared.scope, canonical);
      matches = timingSafeEqual(hmacSha256(signingKey, toSign), provided);
    }
    if (!matches) {
      throw new SigV4Error('SignatureDoesNotMatch', undefined, {
        AWSAccessKeyId: prepared.accessKeyId,
        StringToSign: prepared.stringToSign,
        SignatureProvided: prepared.signature,
      });
    }

    const { payload } = prepared;
    const maxChunkSize = options.maxChunkSize;
    return {
      ok: true,
      accessKeyId: prepared.accessKeyId,
      principal: key.principal,
      form: prepared.form,
      region: prepared.region,
      service: prepared.service,
      requestTime: prepared.requestTime,
      session: key.sessionToken !== undefined || key.sessionTokenHash !== undefined,
      expiresAt,
      signedHeaders: prepared.signedHeaders,
      payload,
      canonicalRequest: canonical,
      stringToSign: toSign,
      createBodyVerifier(): BodyVerifier {
        if (payload.type === 'unsigned') return passThroughBody();
        if (payload.type === 'sha256')
          return payload.verified ? passThroughBody() : sha256CheckedBody(payload.hash);
        return createAwsChunkedDecoder({
          trailer: payload.trailer,
          decodedContentLength: payload.decodedContentLength,
          trailerNames: payload.trailerNames,
          ...(maxChunkSize !== undefined ? { maxChunkSize } : {}),
          ...(payload.signed
            ? {
                signing: {
                  signingKey,
                  amzDate: prepared.amzDate,
                  scope: prepared.scope,
                  seedSignature: prepared.signature,
                },
              }
            : {}),
        });
      },
    };
  }

  return {
    signingKeyCache: cache,
    s3,
    prepare(request, prepareOptions) {
      try {
        return prepare(request, prepareOptions?.now ?? clock());
      } catch (error) {
        return error instanceof SigV4Error ? error : new SigV4Error('InternalError');
      }
    },
    async verify(request, verifyOptions) {
      const now = verifyOptions?.now ?? clock();
      try {
        return await verifyOrThrow(request, now);
      } catch (error) {
        if (error instanceof SigV4Error) return { ok: false, error };
        return { ok: false, error: new SigV4Error('InternalError') };
      }
    },
  };
}

/**
 * Parses and canonicalises a request without looking up any key: the canonical request and string
 * to sign a correct client signed, or the {@link SigV4Error} the verifier would answer before the
 * lookup. Useful for debugging clients and for conformance tests.
 */
export function prepareSigV4Request(
  request: SigV4Request,
  options: Omit<SigV4VerifierOptions, 'lookupKey' | 'signingKeyCache'> & { now?: number },
): PreparedSigV4 | SigV4Error {
  const verifier = createSigV4Verifier({
    ...options,
    signingKeyCache: false,
    lookupKey: () => null,
  });
  return verifier.prepare(request, options.now !== undefined ? { now: options.now } : undefined);
}

/** Verifies one request with a throwaway verifier (no signing-key cache shared between calls). */
export function verifySigV4<P = unknown>(
  request: SigV4Request,
  options: SigV4VerifierOptions<P> & { now?: number },
): Promise<SigV4Result<P>> {
  return createSigV4Verifier({ signingKeyCache: false, ...options }).verify(
    request,
    options.now !== undefined ? { now: options.now } : undefined,
  );
}
