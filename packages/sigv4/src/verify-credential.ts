// Stage 1 of verification (order in verify.ts): parses the credential. Checks, in this order:
// the `Authorization` header's algorithm and its three components (header form; the presigned
// parameters are read by verify-presigned.ts), then for both forms the credential
// `<AKID>/<yyyymmdd>/<region>/<service>/aws4_request` (syntax only; whether the scope fits this
// endpoint is verify-time.ts), the signature's syntax (64 lower-case hex digits) and
// `SignedHeaders` (valid names, sorted, no duplicates, `host` included).
import type { HeaderMap } from './canonical.js';
import { quote, SigV4Error, type SigV4ErrorCode } from './errors.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_AUTHORIZATION_LENGTH = 8 * 1024;
const MAX_CREDENTIAL_LENGTH = 512;
const ACCESS_KEY_ID = /^[A-Za-z0-9_+=.@-]{1,128}$/;
/** A region or signing name: no `/`, `\n` or anything else that could confuse a cache key. */
export const SCOPE_PART = /^[A-Za-z0-9_-]{1,64}$/;
const SCOPE_DATE = /^\d{8}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** The credential scope, syntactically valid. */
export interface Credential {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
}

/** The three auth fields as sent, before any check. */
export interface RawAuth {
  readonly form: 'header' | 'query';
  readonly credential: string;
  readonly signedHeaders: string;
  readonly signature: string;
}

/** The auth fields once parsed. */
export interface ParsedAuth {
  readonly credential: Credential;
  readonly signedHeaders: string[];
  readonly signature: string;
}

/** Splits `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export function parseAuthorizationHeader(values: readonly string[]): RawAuth {
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

/** The `x-amz-security-token` header of the header form, if any (at most one). */
export function headerSecurityToken(headers: HeaderMap): string | undefined {
  const tokens = headers.get('x-amz-security-token');
  if (!tokens) return undefined;
  if (tokens.length !== 1) throw new SigV4Error('InvalidToken', 'More than one security token.');
  return tokens[0]!.trim();
}

/** The error of a malformed or misplaced credential, worded as AWS words it for each form. */
export function scopeError(
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

/** Parses the credential, then the signature's syntax, then `SignedHeaders`, in that order. */
export function parseAuth(raw: RawAuth): ParsedAuth {
  const { form } = raw;
  if (raw.credential.length > MAX_CREDENTIAL_LENGTH)
    throw scopeError(form, 'the Credential is too long.');
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
  return {
    credential,
    signedHeaders: parseSignedHeaders(form, raw.signedHeaders),
    signature: raw.signature,
  };
}
