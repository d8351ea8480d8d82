// The SigV4 verifier: resolves the options, then runs the stages in this order, each in its own
// file; the first failing check decides the error, so a request with several faults always gets
// the same answer:
//   0. verify-request.ts     read the request: headers, path and query, header or query form
//   1. verify-credential.ts  parse the auth: the Authorization header, or the X-Amz-* parameters
//                            (verify-presigned.ts); the signing time is read right after it
//                            (verify-time.ts); then credential, signature syntax, SignedHeaders
//   2. verify-time.ts        scope (service, region, date), then clock skew (header form) or the
//                            validity window (verify-presigned.ts)
//   3. verify-canonical.ts   signed headers present, unsigned x-amz-* (S3), payload, canonical
//                            request and string to sign
//   4. verify-signature.ts   key lookup, expiry, session token, signature; the success result
// Stages 0-3 need no key: they are `prepare`. Public types live in verify-types.ts.
import { stringToSign } from './canonical.js';
import { SigV4Error } from './errors.js';
import { createSigningKeyCache } from './signing-key.js';
import { buildCanonicalRequest, checkSignedHeaders, payloadOf } from './verify-canonical.js';
import {
  headerSecurityToken,
  parseAuth,
  parseAuthorizationHeader,
  type RawAuth,
  SCOPE_PART,
} from './verify-credential.js';
import { checkPresignedWindow, parsePresignedAuth } from './verify-presigned.js';
import { readRequest } from './verify-request.js';
import { verifyPrepared } from './verify-signature.js';
import { checkScope, checkSkew, headerSigningTime, type SigningTime } from './verify-time.js';
import type {
  PreparedSigV4,
  SigV4Request,
  SigV4Result,
  SigV4Verifier,
  SigV4VerifierOptions,
  VerifierConfig,
} from './verify-types.js';

/** Stages 0 to 3: everything that needs no key. Throws the first {@link SigV4Error}. */
function prepare(config: VerifierConfig, request: SigV4Request, now: number): PreparedSigV4 {
  const { headers, rawPath, params, form, authorization } = readRequest(request);

  let raw: RawAuth;
  let time: SigningTime;
  let securityToken: string | undefined;
  let presigned: ReturnType<typeof parsePresignedAuth> | undefined;
  if (authorization) {
    raw = parseAuthorizationHeader(authorization);
    time = headerSigningTime(headers);
    securityToken = headerSecurityToken(headers);
  } else {
    presigned = parsePresignedAuth(params);
    raw = presigned.raw;
    time = presigned;
    securityToken = presigned.securityToken;
  }
  const { credential, signedHeaders, signature } = parseAuth(raw);

  checkScope(config, form, credential, time.amzDate);
  if (presigned) checkPresignedWindow(now, presigned, config.maxSkew);
  else checkSkew(now, time, config.maxSkew);

  checkSignedHeaders(config, form, headers, signedHeaders);
  const payload = payloadOf(config, request, headers, form, params);
  const canonical = buildCanonicalRequest(config, {
    method: request.method,
    rawPath,
    params,
    headers,
    signedHeaders,
    payload,
    form,
    hasSecurityToken: securityToken !== undefined,
  });
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  return {
    form,
    accessKeyId: credential.accessKeyId,
    date: credential.date,
    region: credential.region,
    service: credential.service,
    scope,
    amzDate: time.amzDate,
    requestTime: time.requestTime,
    signedHeaders,
    signature,
    securityToken,
    payload,
    canonicalRequest: canonical.canonicalRequest,
    stringToSign: stringToSign(time.amzDate, scope, canonical.canonicalRequest),
    canonicalRequestWithoutToken: canonical.canonicalRequestWithoutToken,
  };
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
  const clock = options.clock ?? Date.now;
  const s3 = options.s3 ?? options.service === 's3';
  const config: VerifierConfig<P> = {
    service: options.service,
    regions,
    anyRegion: regions.includes('*'),
    maxSkew: options.maxSkew ?? 900_000,
    s3,
    normalizePath: options.normalizePath ?? !s3,
    encodePathTwice: options.encodePathTwice ?? !s3,
    cache:
      options.signingKeyCache === false
        ? undefined
        : (options.signingKeyCache ?? createSigningKeyCache()),
    allowUnsignedSessionToken: options.allowUnsignedSessionToken === true,
    maxChunkSize: options.maxChunkSize,
    // Called as a method of `options`, as before the split (a lookup may use `this`).
    lookupKey: (accessKeyId) => options.lookupKey(accessKeyId),
  };

  return {
    signingKeyCache: config.cache,
    s3,
    prepare(request, prepareOptions) {
      try {
        return prepare(config, request, prepareOptions?.now ?? clock());
      } catch (error) {
        return error instanceof SigV4Error ? error : new SigV4Error('InternalError');
      }
    },
    async verify(request, verifyOptions) {
      const now = verifyOptions?.now ?? clock();
      try {
        return await verifyPrepared(config, prepare(config, request, now), now);
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
