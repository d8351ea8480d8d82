/**
 * The token file: a JSON document an administrator can read and edit by hand.
 *
 * ```json
 * { "version": 1,
 *   "tokens": [
 *     { "id": "…", "kind": "pat", "subject": "ci-deployer", "secretHash": "$scrypt$…",
 *       "scopes": ["deploy"], "expiresAt": "2027-01-01T00:00:00Z", "revoked": false,
 *       "name": "CI deploys" } ] }
 * ```
 *
 * Parsing is strict: an unknown field (a typo such as `"revoke": true` must never be silently
 * ignored), a duplicate id, a bad date or a missing field makes the whole file invalid, and the
 * store keeps serving the last good version. Error messages name the row and field, never a
 * value (a `secretHash` must not end up in a log).
 */
import { isValidKindName } from '@authcache/core';

/** One row of the token file, as written in it. */
export interface TokenRow {
  /** The token's public id (the part between the prefix and the dot). Unique per kind. */
  id: string;
  /** The token kind, as configured in `tokenKinds` with `split`. Default when written: `pat`. */
  kind: string;
  /** Who the token belongs to (`identity.subject`). */
  subject: string;
  /** Slow hash of the secret: `$scrypt$…`, `$argon2id$…`, `$2b$…`, `$5$…` or `$6$…`. */
  secretHash: string;
  /** Granted scopes. Default: none. */
  scopes?: string[];
  /** ISO 8601 date-time after which the token is refused; `null` or absent = never. */
  expiresAt?: string | null;
  /** `true` refuses the token from the next reload on. Default: `false`. */
  revoked?: boolean;
  /** Display name. */
  name?: string;
}

/** The whole file. */
export interface TokenFileData {
  version: 1;
  tokens: TokenRow[];
}

/** A row checked and normalised: what the store serves. */
export interface LoadedRow {
  readonly id: string;
  readonly kind: string;
  readonly subject: string;
  readonly secretHash: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number | null;
  readonly revoked: boolean;
  readonly name: string | undefined;
  /** Everything above in one string: two rows are the same row when these are equal. */
  readonly signature: string;
}

/** A file that cannot be used; the message says where, never what a value was. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

const FIELDS = new Set([
  'id',
  'kind',
  'subject',
  'secretHash',
  'scopes',
  'expiresAt',
  'revoked',
  'name',
]);
const ID = /^[A-Za-z0-9_-]{1,128}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `text` as JSON, with a message that gives the line and column, never a quote of the text. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(String((error as Error)?.message))?.[1];
    if (position === undefined) throw new TokenFileError('not valid JSON (truncated or empty?)');
    const before = text.slice(0, Number(position)).split('\n');
    throw new TokenFileError(
      `not valid JSON at line ${before.length}, column ${before.at(-1)!.length + 1}`,
    );
  }
}

/** Parses and checks a token file. Throws {@link TokenFileError}. */
export function parseTokenFile(text: string): LoadedRow[] {
  const data = parseJson(text) as Partial<TokenFileData> | null;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TokenFileError('the file must hold an object { "version": 1, "tokens": [...] }');
  }
  if (data.version !== 1) throw new TokenFileError('"version" must be 1');
  for (const key of Object.keys(data)) {
    if (key !== 'version' && key !== 'tokens') throw new TokenFileError(`unknown field "${key}"`);
  }
  if (!Array.isArray(data.tokens)) throw new TokenFileError('"tokens" must be an array');
  const seen = new Set<string>();
  return data.tokens.map((raw, index) => {
    const row = checkRow(raw, index);
    const key = `${row.kind}:${row.id}`;
    if (seen.has(key)) throw new TokenFileError(`tokens[${index}]: a second row with this id`);
    seen.add(key);
    return row;
  });
}

function checkRow(raw: unknown, index: number): LoadedRow {
  const at = `tokens[${index}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TokenFileError(`${at} must be an object`);
  }
  const row = raw as Record<string, unknown>;
  for (const key of Object.keys(row)) {
    if (!FIELDS.has(key)) throw new TokenFileError(`${at}: unknown field "${key}"`);
  }
  const text = (field: string, required: boolean): string | undefined => {
    const value = row[field];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw new TokenFileError(`${at}.${field} must be a non-empty string`);
    }
    return value;
  };
  const id = text('id', true)!;
  if (!ID.test(id)) throw new TokenFileError(`${at}.id may hold only A-Z a-z 0-9 _ -`);
  const kind = text('kind', false) ?? 'pat';
  if (!isValidKindName(kind)) throw new TokenFileError(`${at}.kind is not a valid kind name`);
  const subject = text('subject', true)!;
  const secretHash = text('secretHash', true)!;
  if (!secretHash.startsWith('$')) {
    throw new TokenFileError(`${at}.secretHash must be a $…$ hash string (never the secret)`);
  }
  const scopes = row.scopes ?? [];
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && s !== '')) {
    throw new TokenFileError(`${at}.scopes must be an array of non-empty strings`);
  }
  let expiresAt: number | null = null;
  if (row.expiresAt !== undefined && row.expiresAt !== null) {
    const value = row.expiresAt;
    expiresAt = typeof value === 'string' && ISO.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(expiresAt)) {
      throw new TokenFileError(
        `${at}.expiresAt must be an ISO 8601 date-time with a zone, or null`,
      );
    }
  }
  const revoked = row.revoked ?? false;
  if (typeof revoked !== 'boolean') throw new TokenFileError(`${at}.revoked must be true or false`);
  const name = text('name', false);
  const loaded = { id, kind, subject, secretHash, scopes, expiresAt, revoked, name };
  return Object.freeze({ ...loaded, signature: JSON.stringify(loaded) });
}

/** The file's text for `data`: two-space JSON and a final newline, as people write it. */
export function formatTokenFile(data: TokenFileData): string {
  return `${JSON.stringify(data, null, 2)}\n`;
}
