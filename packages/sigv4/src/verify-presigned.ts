// What only presigned (query-form) requests have; each function runs inside the stage named in
// verify.ts. Stage 1: the `X-Amz-*` parameters (each at most once, all six present), in this
// order: algorithm, `X-Amz-Date`, `X-Amz-Expires` (≤ 7 days), the optional security token.
// Stage 2: the validity window (not before the signing time minus the skew, not after it plus
// `X-Amz-Expires`). Stage 3: which parameters the canonical query leaves out, which unsigned
// headers S3 tolerates, and a hoisted `X-Amz-Content-Sha256`. Stage 4 uses the canonical request
// without an appended `X-Amz-Security-Token` (`allowUnsignedSessionToken`).
import type { QueryParameter } from './canonical.js';
import { SigV4Error } from './errors.js';
import { ALGORITHM, type RawAuth } from './verify-credential.js';
import { parseAmzDate, type SigningTime } from './verify-time.js';

const MAX_PRESIGN_EXPIRES = 604_800;
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

/** The auth of a presigned URL, read from its query. */
export interface PresignedAuth extends SigningTime {
  readonly raw: RawAuth;
  /** `X-Amz-Expires`, in seconds. */
  readonly expires: number;
  readonly securityToken: string | undefined;
}

/** Reads and checks the `X-Amz-*` parameters of a presigned URL. */
export function parsePresignedAuth(params: readonly QueryParameter[]): PresignedAuth {
  const bad = (why: string) => new SigV4Error('AuthorizationQueryParametersError', why);
  const values = new Map<string, string>();
  for (const p of params) {
    if (!(QUERY_AUTH_PARAMS as readonly string[]).includes(p.name)) continue;
    if (values.has(p.name)) throw bad(`The ${p.name} parameter appears more than once.`);
    values.set(p.name, p.value);
  }
  for (const name of QUERY_AUTH_PARAMS) {
    if (name !== 'X-Amz-Security-Token' && !values.has(name)) {
      throw bad(
        'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
      );
    }
  }
  if (values.get('X-Amz-Algorithm') !== ALGORITHM) {
    throw bad('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const amzDate = values.get('X-Amz-Date')!;
  const requestTime = parseAmzDate(amzDate);
  if (requestTime === undefined) {
    throw bad("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  const expiresValue = values.get('X-Amz-Expires')!;
  if (!/^\d{1,10}$/.test(expiresValue)) throw bad('X-Amz-Expires should be a number');
  const expires = Number(expiresValue);
  if (expires > MAX_PRESIGN_EXPIRES) {
    throw bad('X-Amz-Expires must be less than a week (in seconds) that is 604800');
  }
  return {
    raw: {
      form: 'query',
      credential: values.get('X-Amz-Credential')!,
      signedHeaders: values.get('X-Amz-SignedHeaders')!,
      signature: values.get('X-Amz-Signature')!,
    },
    amzDate,
    requestTime,
    expires,
    securityToken: values.get('X-Amz-Security-Token'),
  };
}

/** A presigned URL is valid from its signing time (minus the skew) for `X-Amz-Expires` seconds. */
export function checkPresignedWindow(now: number, auth: PresignedAuth, maxSkew: number): void {
  const { requestTime, expires } = auth;
  if (requestTime - now > maxSkew) throw new SigV4Error('AccessDenied', 'Request is not valid yet');
  if (now > requestTime + expires * 1000) {
    throw new SigV4Error('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': String(expires),
      Expires: new Date(requestTime + expires * 1000).toISOString(),
      ServerTime: new Date(now).toISOString(),
    });
  }
}

/** An unsigned header S3 ignores on a presigned upload: a checksum the client added. */
export function isPresignedChecksumHeader(name: string): boolean {
  return name.startsWith('x-amz-checksum-') || name === 'x-amz-sdk-checksum-algorithm';
}

/** The payload hash hoisted into the query (`X-Amz-Content-Sha256`, any case), if any. */
export function hoistedContentSha256(params: readonly QueryParameter[]): string | undefined {
  const hoisted = params.filter((p) => p.name.toLowerCase() === 'x-amz-content-sha256');
  if (hoisted.length > 1) {
    throw new SigV4Error(
      'AuthorizationQueryParametersError',
      'X-Amz-Content-Sha256 appears more than once.',
    );
  }
  return hoisted[0]?.value;
}

/** The canonical query of a presigned URL leaves out the signature itself. */
export const withoutSignature = (p: QueryParameter): boolean => p.name === 'X-Amz-Signature';

/** … and, for a token appended after signing, the token too. */
export const withoutSignatureOrToken = (p: QueryParameter): boolean =>
  p.name === 'X-Amz-Signature' || p.name === 'X-Amz-Security-Token';
