import { createHmac, hash, randomBytes } from 'node:crypto';

/** The base62 alphabet used by token bodies and checksums (digits, upper case, lower case). */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Number of random base62 characters in a token body. 30 × log2(62) ≈ 178 bits of entropy. */
export const TOKEN_BODY_LENGTH = 30;
/** Number of base62 characters of the CRC32 checksum that follows the body (62^6 > 2^32). */
export const TOKEN_CHECKSUM_LENGTH = 6;
/** Length of the older hex body: 40 lowercase hex characters, no checksum. */
export const LEGACY_HEX_LENGTH = 40;

/** How one kind of token looks. */
export interface TokenKindSpec {
  /** Prefix that identifies the kind, e.g. `mul_`. Must be unique among the registered kinds. */
  readonly prefix: string;
  /**
   * Also accept the older format: prefix + 40 lowercase hex characters, without a checksum.
   * Existing deployments hold such tokens. Default: `false`.
   */
  readonly acceptLegacyHex?: boolean;
  /**
   * Split tokens `<prefix><id>.<secret>`: the store looks the row up by `id` and a slow
   * `secretVerifier` (scrypt, argon2, bcrypt, sha-crypt) checks `secret`; see `docs/secrets.md`.
   * A split kind accepts only split tokens (and `resolveHash` refuses it, so no path skips the
   * secret check). `true` uses the default lengths. Default: not split.
   */
  readonly split?: boolean | SplitTokenSpec;
}

/** Lengths of a split token's parts; each part is followed by its 6-character CRC32. */
export interface SplitTokenSpec {
  /** Random base62 characters of the id, before its checksum: 8-64. Default: `16`. */
  readonly idLength?: number;
  /** Random base62 characters of the secret, before its checksum: 16-128. Default: `32`. */
  readonly secretLength?: number;
}

/** A map from kind name to its format. */
export type TokenKinds = Readonly<Record<string, TokenKindSpec>>;

/** The default kinds: personal access tokens (`mul_…`) and daemon tokens (`mdt_…`). */
export const defaultTokenKinds: TokenKinds = Object.freeze({
  pat: Object.freeze({ prefix: 'mul_' }),
  daemon: Object.freeze({ prefix: 'mdt_' }),
});

/** Outcome of {@link TokenFormat.parse}. */
export type ParsedToken =
  | {
      readonly ok: true;
      readonly kind: string;
      readonly legacy: boolean;
      /** The public id of a split token (`<prefix><id>.<secret>`); absent otherwise. */
      readonly id?: string;
      /** The secret of a split token; absent otherwise. Never log or keep it. */
      readonly secret?: string;
    }
  | { readonly ok: false };

/** A freshly generated split token and its two parts (see {@link TokenFormat.generateSplit}). */
export interface SplitToken {
  /** The whole token, `<prefix><id>.<secret>`: hand it to the client once. */
  readonly token: string;
  /** The public id (with its checksum): the store's row id. */
  readonly id: string;
  /** The secret (with its checksum): store only its slow hash. */
  readonly secret: string;
}

/** A registry of token kinds with generation and offline validation. */
export interface TokenFormat {
  readonly kinds: TokenKinds;
  /**
   * A new token of `kind`: prefix + 30 random base62 characters + 6-character checksum, or for a
   * split kind `<prefix><id>.<secret>` (see {@link generateSplit}).
   */
  generate(kind: string): string;
  /** A new split token of a split `kind`, with its id and secret. Throws for other kinds. */
  generateSplit(kind: string): SplitToken;
  /** Whether `kind` is a split kind (see {@link TokenKindSpec.split}). */
  isSplit(kind: string): boolean;
  /**
   * Checks prefix, length, alphabet and checksum without any lookup. Garbage (wrong prefix,
   * bad checksum, control characters, any length that is not a token's) is `{ ok: false }`.
   */
  parse(token: string): ParsedToken;
  /**
   * The kind a token claims, from its prefix and length alone (no alphabet or checksum check):
   * `undefined` when no kind's prefix matches or the length is not one that kind's tokens have.
   * Whenever `parse(token)` is `ok`, this returns the same kind. The resolver's hit path uses it:
   * a token whose hash has a live cache entry was fully parsed when it was loaded.
   */
  kindOf(token: string): string | undefined;
}

/** Encodes the CRC32 of `body` as exactly six base62 characters (left-padded with `0`). */
export function checksum(body: string): string {
  let value = crc32Ascii(body);
  let out = '';
  for (let i = 0; i < TOKEN_CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** `length` unbiased random base62 characters (rejection sampling over random bytes). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      // 248 = 4 × 62: bytes at or above it would bias the first characters of the alphabet.
      if (b < 248) out += BASE62[b % 62];
    }
  }
  return out;
}

/**
 * Whether `kind` can name a token kind: 1-64 printable ASCII characters without `:`. Cache keys
 * and tier keys are `kind:hash`, so the first `:` must always end the kind.
 */
export function isValidKindName(kind: unknown): kind is string {
  return typeof kind === 'string' && /^[\x21-\x39\x3b-\x7e]{1,64}$/.test(kind);
}

/**
 * Builds a token registry. Throws a `TypeError` when a kind name is not 1-64 printable ASCII
 * characters without `:` (see {@link isValidKindName}), or a prefix is empty, not ASCII
 * alphanumeric/underscore, or shared by two kinds (parsing would be ambiguous).
 */
export function createTokenFormat(kinds: TokenKinds = defaultTokenKinds): TokenFormat {
  const entries = Object.entries(kinds);
  if (entries.length === 0) throw new TypeError('createTokenFormat: at least one kind is required');
  for (const [name, spec] of entries) {
    if (!isValidKindName(name)) {
      throw new TypeError(
        `createTokenFormat: kind name ${JSON.stringify(name)} must be 1-64 printable ASCII characters without ":"`,
      );
    }
    if (!/^[A-Za-z0-9_]{1,16}$/.test(spec?.prefix)) {
      throw new TypeError(`createTokenFormat: kind "${name}" has an invalid prefix`);
    }
    for (const [other, otherSpec] of entries) {
      if (other !== name && otherSpec.prefix.startsWith(spec.prefix)) {
        throw new TypeError(
          `createTokenFormat: prefix of kind "${name}" is a prefix of kind "${other}"'s`,
        );
      }
    }
  }
  const modernLength = TOKEN_BODY_LENGTH + TOKEN_CHECKSUM_LENGTH;
  const splits = new Map(entries.flatMap(([kind, spec]) => splitLengths(kind, spec)));
  const matchers = entries.map(([kind, spec]) => ({
    kind,
    split: splits.get(kind),
    result: Object.freeze({ ok: true, kind, legacy: false }) as ParsedToken,
    legacyResult: Object.freeze({ ok: true, kind, legacy: true }) as ParsedToken,
    prefix: spec.prefix,
    legacy: spec.acceptLegacyHex
      ? new RegExp(`^${spec.prefix}[0-9a-f]{${LEGACY_HEX_LENGTH}}$`)
      : undefined,
  }));
  function generateSplit(kind: string): SplitToken {
    const split = splits.get(kind);
    if (!split) throw new TypeError(`generateSplit: "${kind}" is not a split token kind`);
    const idBody = randomBase62(split.id);
    const secretBody = randomBase62(split.secret);
    const id = idBody + checksum(idBody);
    const secret = secretBody + checksum(secretBody);
    return { token: `${kinds[kind]!.prefix}${id}.${secret}`, id, secret };
  }
  return {
    kinds,
    generate(kind) {
      const spec = kinds[kind];
      if (!spec) throw new TypeError(`generateToken: unknown token kind "${kind}"`);
      if (splits.has(kind)) return generateSplit(kind).token;
      const body = randomBase62(TOKEN_BODY_LENGTH);
      return spec.prefix + body + checksum(body);
    },
    generateSplit,
    isSplit: (kind) => splits.has(kind),
    parse(token) {
      if (typeof token !== 'string') return INVALID_TOKEN;
      for (let i = 0; i < matchers.length; i++) {
        const m = matchers[i]!;
        if (!token.startsWith(m.prefix)) continue;
        const start = m.prefix.length;
        if (m.split) return parseSplit(token, start, m.kind, m.split.id, m.split.secret);
        if (token.length === start + modernLength) {
          return verifyBodyAndChecksum(token, start) ? m.result : INVALID_TOKEN;
        }
        if (m.legacy?.test(token)) return m.legacyResult;
        return INVALID_TOKEN;
      }
      return INVALID_TOKEN;
    },
    kindOf(token) {
      if (typeof token !== 'string') return undefined;
      for (let i = 0; i < matchers.length; i++) {
        const m = matchers[i]!;
        if (!token.startsWith(m.prefix)) continue;
        const bodyLength = token.length - m.prefix.length;
        if (m.split) {
          // `<id><checksum>.<secret><checksum>`
          const splitLength = m.split.id + m.split.secret + 2 * TOKEN_CHECKSUM_LENGTH + 1;
          return bodyLength === splitLength ? m.kind : undefined;
        }
        if (bodyLength === modernLength) return m.kind;
        if (m.legacy !== undefined && bodyLength === LEGACY_HEX_LENGTH) return m.kind;
        return undefined;
      }
      return undefined;
    },
  };
}

const INVALID_TOKEN: ParsedToken = Object.freeze({ ok: false });
const BASE62_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62.length; i++) BASE62_VALUE[BASE62.charCodeAt(i)] = i;

/** The IEEE CRC-32 table (the polynomial zlib uses). */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/**
 * CRC-32 of an ASCII string, identical to `zlib.crc32` for ASCII input. Written out because the
 * parser runs on every request: one pass over char codes beats encoding to a Buffer for zlib.
 */
export function crc32Ascii(text: string, start = 0, end = text.length): number {
  let crc = -1;
  for (let i = start; i < end; i++)
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/**
 * One pass over the 30 body and 6 checksum characters at `start`: every one must be base62, and
 * the checksum must encode the body's CRC-32. The checksum is derived from public characters, so
 * a plain comparison leaks nothing.
 */
function verifyBodyAndChecksum(token: string, start: number, length = TOKEN_BODY_LENGTH): boolean {
  const bodyEnd = start + length;
  let crc = -1;
  for (let i = start; i < bodyEnd; i++) {
    const code = token.charCodeAt(i);
    if (code > 127 || BASE62_VALUE[code]! < 0) return false;
    crc = CRC_TABLE[(crc ^ code) & 0xff]! ^ (crc >>> 8);
  }
  let encoded = 0;
  for (let i = bodyEnd; i < bodyEnd + TOKEN_CHECKSUM_LENGTH; i++) {
    const code = token.charCodeAt(i);
    const value = code > 127 ? -1 : BASE62_VALUE[code]!;
    if (value < 0) return false;
    encoded = encoded * 62 + value;
  }
  return encoded === (crc ^ -1) >>> 0;
}

/** The validated part lengths of a split kind, or nothing for a plain kind. */
function splitLengths(
  kind: string,
  spec: TokenKindSpec,
): [string, { id: number; secret: number }][] {
  if (!spec.split) return [];
  const options = spec.split === true ? {} : spec.split;
  const id = options.idLength ?? 16;
  const secret = options.secretLength ?? 32;
  if (!Number.isInteger(id) || id < 8 || id > 64) {
    throw new TypeError(
      `createTokenFormat: kind "${kind}": split.idLength must be an integer in 8-64`,
    );
  }
  if (!Number.isInteger(secret) || secret < 16 || secret > 128) {
    throw new TypeError(
      `createTokenFormat: kind "${kind}": split.secretLength must be an integer in 16-128`,
    );
  }
  if (spec.acceptLegacyHex) {
    throw new TypeError(`createTokenFormat: kind "${kind}" cannot be split and accept legacy hex`);
  }
  return [[kind, { id, secret }]];
}

/**
 * `<id><checksum>.<secret><checksum>` at `start`: exact lengths, base62, both checksums. The
 * checksums are of public characters (the secret's is only a typo check), so plain compares.
 */
function parseSplit(
  token: string,
  start: number,
  kind: string,
  idLength: number,
  secretLength: number,
): ParsedToken {
  const dot = start + idLength + TOKEN_CHECKSUM_LENGTH;
  if (
    token.length !== dot + 1 + secretLength + TOKEN_CHECKSUM_LENGTH ||
    token.charCodeAt(dot) !== 46 ||
    !verifyBodyAndChecksum(token, start, idLength) ||
    !verifyBodyAndChecksum(token, dot + 1, secretLength)
  ) {
    return INVALID_TOKEN;
  }
  return {
    ok: true,
    kind,
    legacy: false,
    id: token.slice(start, dot),
    secret: token.slice(dot + 1),
  };
}

/**
 * The `tokenHash` of a split token: SHA-256 hex of its public id. Cache keys, tombstones, tier
 * keys and invalidations use it; it derives from nothing secret, so it may travel anywhere.
 */
export function hashTokenId(id: string): string {
  return hash('sha256', `id:${id}`, 'hex');
}

const defaultFormat = createTokenFormat();

/** Generates a token of a default kind (`pat` → `mul_…`, `daemon` → `mdt_…`). */
export function generateToken(kind: string): string {
  return defaultFormat.generate(kind);
}

/** Parses a token against the default kinds. See {@link TokenFormat.parse}. */
export function parseToken(token: string): ParsedToken {
  return defaultFormat.parse(token);
}

/** A function from plaintext token to the hash that is stored and used as a cache key. */
export type TokenHasher = (token: string) => string;

/**
 * The hash under which a token is stored and cached: SHA-256 hex of the whole token
 * (compatible with existing `token_hash` columns), or HMAC-SHA256 hex keyed with `pepper`
 * when one is given, so that a leaked table cannot be checked against guessed tokens offline.
 */
export function createTokenHasher(options: { pepper?: string | Buffer } = {}): TokenHasher {
  const { pepper } = options;
  if (pepper === undefined) return (token) => hash('sha256', token, 'hex');
  if (pepper.length === 0) throw new TypeError('createTokenHasher: pepper must not be empty');
  return (token) => createHmac('sha256', pepper).update(token).digest('hex');
}

/** SHA-256 hex of `token`. Equivalent to `createTokenHasher()(token)`. */
export const hashToken: TokenHasher = createTokenHasher();
