// Stage 4 of verification (order in verify.ts), the only one that needs the key: key lookup and
// signature. Checks, in this order: the access key exists (a failing key store is
// `ServiceUnavailable`, never a refusal or a pass), it has not expired, the session token
// matches (hashed, constant time), then the signature (constant time) under the signing key,
// cached per (access key, secret version, date, region, service). On success, builds the result
// with its body verifier (aws-chunked chunks are signed with the same signing key).
import { timingSafeEqual } from 'node:crypto';
import {
  type BodyVerifier,
  createAwsChunkedDecoder,
  passThroughBody,
  sha256CheckedBody,
} from './body.js';
import { sha256Hex, stringToSign } from './canonical.js';
import { SigV4Error } from './errors.js';
import { deriveSigningKey, hmacSha256, secretFingerprint } from './signing-key.js';
import type { PreparedSigV4, SigV4Key, SigV4Success, VerifierConfig } from './verify-types.js';

async function lookup<P>(config: VerifierConfig<P>, accessKeyId: string): Promise<SigV4Key<P>> {
  let key: SigV4Key<P> | null;
  try {
    key = await config.lookupKey(accessKeyId);
  } catch (error) {
    if (error instanceof SigV4Error) throw error;
    // An unreachable key store is an outage, never a refusal and never a bypass.
    throw new SigV4Error('ServiceUnavailable');
  }
  if (key === null)
    throw new SigV4Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
  return key;
}

function checkSessionToken(key: SigV4Key, token: string | undefined): void {
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
    throw new SigV4Error('InvalidToken', 'The security token included in the request is invalid.');
  }
}

/**
 * The signing key of `prepared`'s scope: from the cache, or derived from the secret (which may
 * have to be fetched asynchronously, e.g. unwrapped by an HSM: only on a cache miss).
 */
async function signingKeyOf(
  config: VerifierConfig,
  key: SigV4Key,
  prepared: PreparedSigV4,
): Promise<Buffer> {
  const secretOf = () => (typeof key.secret === 'function' ? key.secret() : key.secret);
  // Without a secretVersion the secret is needed for the fingerprint anyway: fetch it once.
  const known = key.secretVersion === undefined ? await secretOf() : undefined;
  const version = key.secretVersion ?? secretFingerprint(known!);
  const { date, region, service, accessKeyId } = prepared;
  const cache = config.cache;
  if (!cache) return deriveSigningKey(known ?? (await secretOf()), date, region, service);
  const hit = cache.peek?.(accessKeyId, version, date, region, service);
  if (hit) return hit;
  const secret = known ?? (await secretOf());
  return cache.get(accessKeyId, version, date, region, service, () =>
    deriveSigningKey(secret, date, region, service),
  );
}

/** Looks the key up and checks the signature of a prepared request. */
export async function verifyPrepared<P>(
  config: VerifierConfig<P>,
  prepared: PreparedSigV4,
  now: number,
): Promise<SigV4Success<P>> {
  const key = await lookup(config, prepared.accessKeyId);
  const expiresAt = key.expiresAt ?? null;
  if (expiresAt !== null && now >= expiresAt) throw new SigV4Error('ExpiredToken');
  checkSessionToken(key, prepared.securityToken);

  const signingKey = await signingKeyOf(config, key, prepared);
  const provided = Buffer.from(prepared.signature, 'hex');
  let canonical = prepared.canonicalRequest;
  let toSign = prepared.stringToSign;
  let matches = timingSafeEqual(hmacSha256(signingKey, toSign), provided);
  if (!matches && config.allowUnsignedSessionToken && prepared.canonicalRequestWithoutToken) {
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
  const maxChunkSize = config.maxChunkSize;
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
