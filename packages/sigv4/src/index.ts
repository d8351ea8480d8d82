export type {
  AccessKeyRepository,
  AccessKeys,
  AccessKeysOptions,
  CachedAccessKeyLookupOptions,
  CachedSigV4VerifierOptions,
  CreatedAccessKey,
  CreatedSessionCredentials,
} from './access-keys.js';
export {
  ACCESS_KEY_ID_PATTERN,
  createAccessKeys,
  createCachedAccessKeyLookup,
  createCachedSigV4Verifier,
  generateAccessKeyId,
  generateSecretAccessKey,
  SIGV4_KIND,
  withAccessKeys,
} from './access-keys.js';
export type { AwsChunkedOptions, BodyVerifier, ChunkSigningContext } from './body.js';
export {
  bodyVerifierStream,
  createAwsChunkedDecoder,
  passThroughBody,
  sha256CheckedBody,
} from './body.js';
export type { CanonicalPathOptions, QueryParameter } from './canonical.js';
export {
  canonicalHeaderValue,
  canonicalPath,
  canonicalQuery,
  EMPTY_SHA256,
  normalizePath,
  parseQuery,
  uriEncode,
} from './canonical.js';
export type { Checksum, ChecksumAlgorithm } from './checksums.js';
export { CHECKSUM_ALGORITHMS, createChecksum, isChecksumAlgorithm } from './checksums.js';
export type {
  SigV4ErrorCode,
  SigV4ErrorProtocol,
  SigV4ErrorResponse,
  SigV4ErrorResponseOptions,
} from './errors.js';
export { SIGV4_ERROR_STATUS, SigV4Error, sigv4ErrorResponse } from './errors.js';
export type { SecretKeyring, SecretKeyringOptions, SecretSealer } from './keyring.js';
export { createSecretKeyring } from './keyring.js';
export type { PreparedSigV4Auth, SigV4AuthOptions } from './middleware.js';
export { DEFAULT_SIGV4_BODY_LIMIT, prepareSigV4Auth } from './middleware.js';
export type { VerifyNodeRequestOptions } from './node.js';
export {
  bodyTooLarge,
  readAndRestoreNodeBody,
  readNodeBody,
  sigv4RequestFromNode,
  verifiedNodeBody,
  verifyNodeRequest,
  writeSigV4Error,
} from './node.js';
export type { SigningKeyCache, SigningKeyCacheOptions } from './signing-key.js';
export {
  createSigningKeyCache,
  deriveSigningKey,
  secretFingerprint,
} from './signing-key.js';
export { createSigV4Verifier, prepareSigV4Request, verifySigV4 } from './verify.js';
export { formatAmzDate } from './verify-time.js';
export type {
  PreparedSigV4,
  SigV4Failure,
  SigV4Headers,
  SigV4Key,
  SigV4Payload,
  SigV4Request,
  SigV4Result,
  SigV4Success,
  SigV4Verifier,
  SigV4VerifierOptions,
} from './verify-types.js';
export { bodyVerifierTransform, verifiedWebBody } from './web.js';
export { xmlEscape } from './xml.js';
