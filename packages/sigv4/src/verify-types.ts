// The public types of the verifier (what a request, a key, a result look like) and the resolved
// options every stage reads. No logic here; the stages are listed in verify.ts.
import type { BodyVerifier } from './body.js';
import type { SigV4Error } from './errors.js';
import type { SigningKeyCache } from './signing-key.js';

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
  readonly secret: string | Uint8Array | (() => string | Uint8Array | Promise<string | Uint8Array>);
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

/** The options of {@link createSigV4Verifier} with every default applied (internal). */
export interface VerifierConfig<P = unknown> {
  readonly service: string;
  /** Allowed scope regions; empty never (the constructor refuses it). */
  readonly regions: readonly string[];
  readonly anyRegion: boolean;
  readonly maxSkew: number;
  readonly s3: boolean;
  readonly normalizePath: boolean;
  readonly encodePathTwice: boolean;
  readonly cache: SigningKeyCache | undefined;
  readonly allowUnsignedSessionToken: boolean;
  readonly maxChunkSize: number | undefined;
  readonly lookupKey: SigV4VerifierOptions<P>['lookupKey'];
}
