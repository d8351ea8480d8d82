/**
 * The sealed envelope, byte by byte (all lengths big-endian; see docs/sealed-secrets.md):
 *
 * | offset | size | field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `ACSE` (0x41 0x43 0x53 0x45) |
 * | 4 | 1 | format version, `0x01` |
 * | 5 | 1 | backend tag length `b` (1–32) |
 * | 6 | b | backend tag, ASCII `[a-z0-9-]` (`local`, `pkcs11`, `aws-kms`, …) |
 * | … | 1 | key id length `k` (1–64) |
 * | … | k | key id, ASCII `[A-Za-z0-9_.:/-]` |
 * | … | 2 | wrapped data key length `w` (1–1024) |
 * | … | w | wrapped data key (opaque to this format; the backend's output) |
 * | … | 12 | nonce of AES-256-GCM |
 * | … | n | ciphertext (as long as the plaintext) |
 * | end−16 | 16 | GCM tag |
 *
 * The header is everything before the ciphertext. AES-256-GCM runs with the record's random data
 * key; its additional authenticated data is the header followed by the record's location
 * (`table`, `column`, `row id` as UTF-8, each preceded by its 2-byte length), so neither the
 * header (backend, key id, wrapped key) nor the row can be changed without the tag failing.
 */

/** `ACSE`: authcache sealed envelope. */
export const MAGIC = Buffer.from('ACSE', 'ascii');
/** The only format version this code writes and reads. */
export const FORMAT_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const DATA_KEY_BYTES = 32;

const BACKEND_TAG = /^[a-z0-9-]{1,32}$/;
const KEY_ID = /^[A-Za-z0-9_.:/-]{1,64}$/;
const MAX_WRAPPED = 1024;

/** A malformed, foreign or future envelope: the message says which. */
export class SealFormatError extends Error {
  override readonly name = 'SealFormatError';
}

/** What the header says, readable without any key. */
export interface EnvelopeHeader {
  readonly version: number;
  readonly backend: string;
  readonly keyId: string;
  readonly wrappedKey: Buffer;
  readonly nonce: Buffer;
}

/** A parsed envelope. `header` is the raw header bytes (part of the AAD). */
export interface ParsedEnvelope extends EnvelopeHeader {
  readonly headerBytes: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/** Where a record lives; bound into the AAD so a ciphertext cannot move between rows. */
export interface SealContext {
  /** e.g. `access_key`. */
  readonly table: string;
  /** e.g. `secret_ciphertext`. */
  readonly column: string;
  /** The row's id, e.g. the access key id. */
  readonly rowId: string;
}

export function checkBackendTag(tag: string): string {
  if (typeof tag !== 'string' || !BACKEND_TAG.test(tag)) {
    throw new TypeError(`seal: invalid backend tag "${String(tag)}" (1–32 of [a-z0-9-])`);
  }
  return tag;
}

export function checkKeyId(keyId: string): string {
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) {
    throw new TypeError(`seal: invalid key id "${String(keyId)}" (1–64 of [A-Za-z0-9_.:/-])`);
  }
  return keyId;
}

/** The header bytes (magic … nonce). */
export function encodeHeader(header: Omit<EnvelopeHeader, 'version'>): Buffer {
  const backend = Buffer.from(checkBackendTag(header.backend), 'ascii');
  const keyId = Buffer.from(checkKeyId(header.keyId), 'ascii');
  const wrapped = header.wrappedKey;
  if (wrapped.length < 1 || wrapped.length > MAX_WRAPPED) {
    throw new TypeError(`seal: wrapped data key must be 1–${MAX_WRAPPED} bytes`);
  }
  if (header.nonce.length !== NONCE_BYTES) throw new TypeError('seal: nonce must be 12 bytes');
  const wrappedLength = Buffer.alloc(2);
  wrappedLength.writeUInt16BE(wrapped.length);
  return Buffer.concat([
    MAGIC,
    Buffer.from([FORMAT_VERSION, backend.length]),
    backend,
    Buffer.from([keyId.length]),
    keyId,
    wrappedLength,
    wrapped,
    header.nonce,
  ]);
}

/** The AAD of a record: header, then table, column and row id, each length-prefixed. */
export function additionalData(headerBytes: Buffer, context: SealContext): Buffer {
  const parts: Buffer[] = [headerBytes];
  for (const [name, value] of [
    ['table', context?.table],
    ['column', context?.column],
    ['rowId', context?.rowId],
  ] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`seal: context.${name} must be a non-empty string`);
    }
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > 0xffff) throw new TypeError(`seal: context.${name} is too long`);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/** Parses the binary envelope. Throws {@link SealFormatError} naming what is wrong. */
export function parseEnvelope(bytes: Uint8Array): ParsedEnvelope {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 6 || !buf.subarray(0, 4).equals(MAGIC)) {
    throw new SealFormatError('seal: not a sealed envelope (wrong magic; expected "ACSE")');
  }
  const version = buf[4]!;
  if (version !== FORMAT_VERSION) {
    throw new SealFormatError(
      `seal: unknown envelope format version ${version} (this build reads version ${FORMAT_VERSION}; upgrade @authcache/seal)`,
    );
  }
  let at = 5;
  const take = (n: number, what: string): Buffer => {
    if (at + n > buf.length) throw new SealFormatError(`seal: truncated envelope (${what})`);
    const out = buf.subarray(at, at + n);
    at += n;
    return out;
  };
  const backendLength = take(1, 'backend tag length')[0]!;
  const backend = take(backendLength, 'backend tag').toString('ascii');
  if (!BACKEND_TAG.test(backend)) throw new SealFormatError('seal: malformed backend tag');
  const keyIdLength = take(1, 'key id length')[0]!;
  const keyId = take(keyIdLength, 'key id').toString('ascii');
  if (!KEY_ID.test(keyId)) throw new SealFormatError('seal: malformed key id');
  const wrappedLength = take(2, 'wrapped key length').readUInt16BE(0);
  if (wrappedLength < 1 || wrappedLength > MAX_WRAPPED) {
    throw new SealFormatError('seal: malformed wrapped key length');
  }
  const wrappedKey = take(wrappedLength, 'wrapped key');
  const nonce = take(NONCE_BYTES, 'nonce');
  const headerBytes = buf.subarray(0, at);
  if (buf.length - at < TAG_BYTES) throw new SealFormatError('seal: truncated envelope (tag)');
  const ciphertext = buf.subarray(at, buf.length - TAG_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  return { version, backend, keyId, wrappedKey, nonce, headerBytes, ciphertext, tag };
}

/**
 * Text form, for text columns and files: `$acse$` + base64url of the envelope. The prefix tells
 * a sealed value from legacy ones (`v1.<keyId>.…` of the old keyring) without decoding.
 */
export const TEXT_PREFIX = '$acse$';

export function toText(envelope: Uint8Array): string {
  return TEXT_PREFIX + Buffer.from(envelope).toString('base64url');
}

/** Whether `value` is in this package's text form (it may still be damaged). */
export function isSealedText(value: unknown): boolean {
  return typeof value === 'string' && value.startsWith(TEXT_PREFIX);
}

export function fromText(text: string): Buffer {
  if (!isSealedText(text)) {
    throw new SealFormatError(`seal: not a sealed value (expected the "${TEXT_PREFIX}" prefix)`);
  }
  return Buffer.from(text.slice(TEXT_PREFIX.length), 'base64url');
}

/**
 * The header of a sealed value (binary or text form), without any key or backend: what
 * `keys status` counts. Throws {@link SealFormatError}.
 */
export function readHeader(value: string | Uint8Array): EnvelopeHeader {
  const { version, backend, keyId, wrappedKey, nonce } = parseEnvelope(
    typeof value === 'string' ? fromText(value) : value,
  );
  return { version, backend, keyId, wrappedKey, nonce };
}
