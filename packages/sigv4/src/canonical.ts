import { hash } from 'node:crypto';

/** SHA-256 hex of the empty string: the payload hash of a request without a body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const HEX = '0123456789ABCDEF';
/** byte → is it one of RFC 3986's unreserved characters (A-Z a-z 0-9 - _ . ~)? */
const UNRESERVED = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  UNRESERVED[b] = /[A-Za-z0-9\-_.~]/.test(c) ? 1 : 0;
}
const ALL_UNRESERVED = /^[A-Za-z0-9\-_.~]*$/;
const ALL_UNRESERVED_OR_SLASH = /^[A-Za-z0-9\-_.~/]*$/;

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

/**
 * Percent-decodes to bytes. A `%` not followed by two hex digits stays literal, so decoding never
 * fails; characters above U+007F count as their UTF-8 bytes. `plusAsSpace` applies the
 * form-encoding rule AWS uses for query strings.
 */
export function percentDecode(input: string, plusAsSpace = false): Buffer {
  const bytes = Buffer.from(input, 'utf8');
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1]!);
      const lo = hexValue(bytes[i + 2]!);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = plusAsSpace && b === 0x2b ? 0x20 : b;
  }
  return out.subarray(0, n);
}

/** SigV4's URI encoding of bytes: unreserved characters as is, everything else `%XX` (upper case). */
export function uriEncodeBytes(bytes: Uint8Array, keepSlash = false): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (UNRESERVED[b] === 1 || (keepSlash && b === 0x2f)) out += String.fromCharCode(b);
    else out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/** SigV4's URI encoding of a string (as UTF-8). */
export function uriEncode(value: string, keepSlash = false): string {
  if ((keepSlash ? ALL_UNRESERVED_OR_SLASH : ALL_UNRESERVED).test(value)) return value;
  return uriEncodeBytes(Buffer.from(value, 'utf8'), keepSlash);
}

/**
 * Removes `.` and `..` segments and empty segments (`//`), as AWS does for every service but S3.
 * A trailing slash survives: `//example//` → `/example/`.
 */
export function normalizePath(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  const last = segments[segments.length - 1];
  const trailing = last === '' || last === '.' || last === '..';
  if (out.length === 0) return '/';
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/** How the path of the canonical request is formed. */
export interface CanonicalPathOptions {
  /** Remove dot segments and repeated slashes first (every service but S3). */
  readonly normalize: boolean;
  /**
   * Encode the path as it came on the wire once more, so `%20` becomes `%2520` (every service but
   * S3). Otherwise each segment is decoded and encoded exactly once (S3), which keeps `%2F` inside
   * a key distinct from a `/` separator.
   */
  readonly encodeTwice: boolean;
}

/** The canonical URI of a raw request path (without its query). */
export function canonicalPath(rawPath: string, options: CanonicalPathOptions): string {
  let path = rawPath === '' ? '/' : rawPath;
  if (options.normalize) path = normalizePath(path);
  if (options.encodeTwice) return uriEncode(path, true);
  if (ALL_UNRESERVED_OR_SLASH.test(path)) return path;
  return path
    .split('/')
    .map((segment) => uriEncodeBytes(percentDecode(segment)))
    .join('/');
}

/** One query parameter: as it came, decoded, and SigV4-encoded. */
export interface QueryParameter {
  /** Decoded name (UTF-8; invalid sequences replaced). */
  readonly name: string;
  /** Decoded value. */
  readonly value: string;
  /** Name and value in canonical encoding. */
  readonly encodedName: string;
  readonly encodedValue: string;
}

function canonicalComponent(raw: string): { decoded: string; encoded: string } {
  if (ALL_UNRESERVED.test(raw)) return { decoded: raw, encoded: raw };
  const bytes = percentDecode(raw, true);
  return { decoded: bytes.toString('utf8'), encoded: uriEncodeBytes(bytes) };
}

/** Parses a raw query string (without the `?`). Empty `&&` segments are skipped. */
export function parseQuery(rawQuery: string): QueryParameter[] {
  const params: QueryParameter[] = [];
  if (rawQuery === '') return params;
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = canonicalComponent(eq === -1 ? part : part.slice(0, eq));
    const value = canonicalComponent(eq === -1 ? '' : part.slice(eq + 1));
    params.push({
      name: name.decoded,
      value: value.decoded,
      encodedName: name.encoded,
      encodedValue: value.encoded,
    });
  }
  return params;
}

/** Code-unit order, which for the ASCII of encoded strings is byte order, as SigV4 requires. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The canonical query string: re-encoded, sorted by name then value, `exclude`d names dropped. */
export function canonicalQuery(
  params: readonly QueryParameter[],
  exclude: (param: QueryParameter) => boolean = () => false,
): string {
  return params
    .filter((p) => !exclude(p))
    .map((p) => [p.encodedName, p.encodedValue] as const)
    .sort((a, b) => compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Trims a header value and folds every run of whitespace (including obs-fold line breaks) to one space. */
export function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, ' ');
}

/** Request headers, lower-cased names → every value in the order received. */
export type HeaderMap = ReadonlyMap<string, readonly string[]>;

/**
 * The canonical headers block: `name:value\n` per signed header, several values of one header
 * folded then joined with `,`. `signedHeaders` must already be sorted; every one must be present.
 */
export function canonicalHeaders(headers: HeaderMap, signedHeaders: readonly string[]): string {
  let out = '';
  for (const name of signedHeaders) {
    const values = headers.get(name) ?? [];
    out += `${name}:${values.map(canonicalHeaderValue).join(',')}\n`;
  }
  return out;
}

/** The six-line canonical request of SigV4. */
export function canonicalRequest(parts: {
  method: string;
  path: string;
  query: string;
  headers: string;
  signedHeaders: string;
  payloadHash: string;
}): string {
  return `${parts.method}\n${parts.path}\n${parts.query}\n${parts.headers}\n${parts.signedHeaders}\n${parts.payloadHash}`;
}

/** The string to sign of a SigV4 request. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  // One-shot hashing skips the Hash object, which is most of the cost for short inputs.
  return hash('sha256', data, 'hex');
}
