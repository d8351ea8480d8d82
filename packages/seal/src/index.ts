export {
  type BackendDescription,
  type KeyBackend,
  KeyBackendUnavailableError,
  SealOpenError,
} from './backend.js';
export {
  type SealedFile,
  type SealedFileOptions,
  type SealedFileToken,
  sealedFile,
} from './file.js';
export {
  additionalData,
  DATA_KEY_BYTES,
  type EnvelopeHeader,
  encodeHeader,
  FORMAT_VERSION,
  fromText,
  isSealedText,
  MAGIC,
  NONCE_BYTES,
  type ParsedEnvelope,
  parseEnvelope,
  readHeader,
  type SealContext,
  SealFormatError,
  TAG_BYTES,
  TEXT_PREFIX,
  toText,
} from './format.js';
export {
  createSealedKeyring,
  type LegacyKeyring,
  type SealedKeyring,
  type SealedKeyringOptions,
} from './keyring.js';
export { legacyKeyring } from './legacy.js';
export { type LocalKeyOptions, localKey, localKeyFromEnv } from './local.js';
export {
  type RotateOptions,
  readRecords,
  rotateSealed,
  type SealedRecord,
  type SealedRecordSource,
  type SealedStatus,
  type SealedWalkOptions,
  sealedStatus,
  verifySealed,
} from './records.js';
export { createSealer, type Sealer, type SealerOptions } from './sealer.js';
