/**
 * Which credential a request carries, read from its headers: Bearer extraction (RFC 6750 §2.1),
 * repeated `Authorization` headers (node's `rawHeaders`, Fetch's joined values) and the choice
 * between a header and another source. Pure functions of strings; no cache, no I/O.
 */

/**
 * Longest bearer token accepted, in characters. Longer credentials are `malformed` (400) before
 * anything is hashed, verified or looked up. 8 KiB leaves room for large JWTs.
 */
export const MAX_BEARER_TOKEN_LENGTH = 8192;

/** Outcome of credential extraction. `description` is safe to send to the client. */
export type CredentialResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed'; readonly description?: string };

/** A failed {@link CredentialResult}. */
export type CredentialFailure = Extract<CredentialResult, { ok: false }>;

const MISSING: CredentialFailure = Object.freeze({ ok: false, reason: 'missing' });
// Every failure is a shared frozen constant: extraction allocates nothing but the token itself.
const malformed = (description: string): CredentialFailure =>
  Object.freeze({ ok: false, reason: 'malformed', description });
const SEVERAL_HEADERS = malformed('More than one Authorization header');
const NO_TOKEN = malformed('Bearer scheme without a token');
const TOO_LONG = malformed('Bearer token too long');
const MALFORMED_TOKEN = malformed('Malformed bearer token');
const SEVERAL_CREDENTIALS = malformed('More than one credential in the Authorization header');
const SEVERAL_WAYS = malformed('Credentials sent more than one way');

/**
 * RFC 6750 b64token alphabet: `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"` (then `*"="`).
 * Indexed by char code; codes ≥ 128 are never in it.
 */
const B64 = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/') {
  B64[c.charCodeAt(0)] = 1;
}

/** `token` if it is a b64token (RFC 6750 §2.1), else the `malformed` failure extraction gives. */
export function checkBearerToken(token: string): string | CredentialFailure {
  return isB64Token(token, 0, token.length) ? token : MALFORMED_TOKEN;
}

/** `value[start, end)` is a b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
function isB64Token(value: string, start: number, end: number): boolean {
  let i = start;
  for (; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128 || B64[c] === 0) break;
  }
  if (i === start) return false;
  while (i < end && value.charCodeAt(i) === 61 /* = */) i++;
  return i === end;
}

/** ECMAScript `\s` (WhiteSpace and LineTerminator): what may follow the scheme name. */
function isJsWhitespace(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const BEARER = 'bearer';

/**
 * The bearer token of an `Authorization` value, or why there is none: {@link extractBearer}
 * without the result object. A hand-written scan (no regular expression, no trimmed copy): on the
 * common path the only allocation is the token's own slice of the header.
 */
export function scanBearer(
  authorization: string | readonly string[] | null | undefined,
  checkAlphabet = true,
): string | CredentialFailure {
  if (authorization === undefined || authorization === null) return MISSING;
  if (typeof authorization !== 'string') {
    if (authorization.length === 0) return MISSING;
    if (authorization.length > 1) return SEVERAL_HEADERS;
    return scanBearer(authorization[0], checkAlphabet);
  }
  // HTTP parsers already strip the optional whitespace around a field value (SP and HTAB only,
  // RFC 9110 §5.6.3); do the same for direct callers, and nothing more.
  let start = 0;
  let end = authorization.length;
  while (start < end && isSpOrTab(authorization.charCodeAt(start))) start++;
  while (end > start && isSpOrTab(authorization.charCodeAt(end - 1))) end--;
  if (start === end) return MISSING;
  // `Bearer` in any case, then whitespace or the end (RFC 6750: `"Bearer" 1*SP b64token`).
  if (
    end - start < 6 ||
    (end - start > 6 && !isJsWhitespace(authorization.charCodeAt(start + 6)))
  ) {
    return otherScheme(authorization, start, end);
  }
  for (let i = 0; i < 6; i++) {
    // `| 0x20` folds A-Z onto a-z; only a letter of either case folds onto a letter.
    if ((authorization.charCodeAt(start + i) | 0x20) !== BEARER.charCodeAt(i)) {
      return otherScheme(authorization, start, end);
    }
  }
  // Spaces separate; a tab (or any other whitespace) is part of the token, hence malformed.
  let tokenStart = start + 6;
  while (tokenStart < end && authorization.charCodeAt(tokenStart) === 32) tokenStart++;
  if (tokenStart === end) return NO_TOKEN;
  if (end - tokenStart > MAX_BEARER_TOKEN_LENGTH) return TOO_LONG;
  if (checkAlphabet && !isB64Token(authorization, tokenStart, end)) return MALFORMED_TOKEN;
  return authorization.slice(tokenStart, end);
}

function isSpOrTab(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Extracts a bearer token from an `Authorization` header value.
 *
 * - absent or empty → `missing`;
 * - another scheme (`Basic …`, `Token …`) → `missing`: RFC 6750 §3.1 says a request that used an
 *   unsupported method "lacks authentication information", so it gets a plain challenge;
 * - `Bearer` in any case, then one or more spaces (the RFC's `1*SP`), then one b64token → the
 *   token; anything else after `Bearer` (no token, a tab, two tokens, characters outside the
 *   b64token alphabet, non-ASCII, longer than {@link MAX_BEARER_TOKEN_LENGTH}) → `malformed`;
 * - several `Authorization` headers (an array, see {@link nodeAuthorization}) → `malformed`, and
 *   so is another scheme followed by `, Bearer …` (two headers as the Fetch API joins them).
 */
export function extractBearer(
  authorization: string | readonly string[] | null | undefined,
): CredentialResult {
  const token = scanBearer(authorization);
  return typeof token === 'string' ? { ok: true, token } : token;
}

/** After a comma, OWS, then `Bearer` as a whole word: a second credential in the same value. */
const LATER_BEARER = /,[ \t]*bearer(?:[ \t]|$)/i;

/**
 * A value whose scheme is not `Bearer`: no bearer credential (`missing`), unless a `Bearer`
 * credential follows a comma. That is how the Fetch API's `Headers` (Hono, Bun, Deno, Workers)
 * hand over several `Authorization` headers, joined with ", "; `Authorization` is a singleton
 * field, not a list, so `Basic …, Bearer …` is two credentials, as on node.
 */
function otherScheme(value: string, start: number, end: number): CredentialFailure {
  const comma = value.indexOf(',', start);
  if (comma === -1 || comma >= end) return MISSING;
  return LATER_BEARER.test(value.slice(start, end)) ? SEVERAL_CREDENTIALS : MISSING;
}

/** What {@link nodeAuthorization} reads of a node:http `IncomingMessage` (or http2 compat request). */
export interface NodeHeaderSource {
  readonly headers: { readonly authorization?: string | undefined };
  /** Header names and values as received, alternating. Absent on hand-made requests. */
  readonly rawHeaders?: readonly string[];
}

const AUTHORIZATION = 'authorization';

/** `name` equals `authorization` ignoring ASCII case, without allocating. */
function isAuthorizationName(name: string): boolean {
  if (name.length !== 13) return false;
  if (name === AUTHORIZATION || name === 'Authorization') return true;
  for (let i = 0; i < 13; i++) {
    // `| 0x20` folds A-Z onto a-z; only a letter of either case folds onto a letter.
    if ((name.charCodeAt(i) | 0x20) !== AUTHORIZATION.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * The `Authorization` header(s) of a node:http request, for {@link extractBearer} or the
 * adapters' `authorization` source. node:http keeps only the first of several `Authorization`
 * headers in `req.headers`, so this counts them in `req.rawHeaders`: with one (or none) it
 * returns `req.headers.authorization` as is; with several it returns all their values, which
 * {@link extractBearer} rejects as `malformed` (400), even when they are equal. The scan compares
 * name lengths first and allocates nothing unless the header is repeated.
 */
export function nodeAuthorization(req: NodeHeaderSource): string | readonly string[] | undefined {
  const raw = req.rawHeaders;
  if (raw === undefined || !repeatsAuthorization(raw)) return req.headers.authorization;
  return authorizationValues(raw);
}

/**
 * The `Authorization` header(s) in a node request's `rawHeaders` alone: `undefined` when none,
 * the value when sent once, every value when repeated (which {@link extractBearer} rejects as
 * `malformed`). One pass; allocates nothing unless the header is repeated. For adapters that
 * know `rawHeaders` is what the framework would read (see the Hono adapter).
 */
export function rawAuthorization(raw: readonly string[]): string | readonly string[] | undefined {
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (!isAuthorizationName(raw[i]!)) continue;
    if (found !== undefined) return authorizationValues(raw);
    found = raw[i + 1] ?? '';
  }
  return found;
}

/** Whether `rawHeaders` hold more than one `Authorization` header. Allocates nothing. */
function repeatsAuthorization(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (!isAuthorizationName(raw[i]!)) continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

function authorizationValues(raw: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (isAuthorizationName(raw[i]!)) values.push(raw[i + 1] ?? '');
  }
  return values;
}

/**
 * The `Authorization` value(s) on a Fetch-API runtime that runs on node:http (Hono on
 * `@hono/node-server`): `value` is what the request's `Headers` give; `incoming` is the node
 * request underneath, if any. `@hono/node-server` builds those `Headers` from `rawHeaders` for
 * plain requests (repeated headers joined by ", ") but from `req.headers` for upgrades (only the
 * first kept). When `value` is either form of several `Authorization` headers node received,
 * returns them separately, so the answer is the one node adapters give; otherwise `value`,
 * which stays the source of truth (a middleware may have rewritten the request). With a single
 * header the cost is one scan of the raw header names, without allocation.
 */
export function fetchAuthorization(
  value: string | null | undefined,
  incoming?: Pick<NodeHeaderSource, 'rawHeaders'>,
): string | readonly string[] | null | undefined {
  // Only rawHeaders are read: node builds `incoming.headers` lazily, on first access.
  const raw = incoming?.rawHeaders;
  if (value === undefined || value === null || raw === undefined) return value;
  if (!repeatsAuthorization(raw)) return value;
  const all = authorizationValues(raw);
  return value === all[0] || value === all.join(', ') ? all : value;
}

/**
 * Combines the `Authorization` header with a credential found elsewhere (a cookie, a query
 * parameter, a WebSocket subprotocol: whatever the adapter's `getToken` returns). A credential
 * in both places is `malformed` (RFC 6750 §2: "clients MUST NOT use more than one method"),
 * even when the two are equal. An empty string from `getToken` counts as absent.
 */
export function selectCredential(
  authorization: string | readonly string[] | null | undefined,
  otherToken?: string | null,
): CredentialResult {
  const token = selectToken(authorization, otherToken);
  return typeof token === 'string' ? { ok: true, token } : token;
}

/**
 * {@link selectCredential} without the result object: the token, or why there is none. With
 * `checkAlphabet` false, a token from the header is returned without the b64token alphabet check
 * (every other check is made): the caller must run {@link checkBearerToken} before the token is
 * used for anything but a lookup that can only match a well-formed token.
 */
export function selectToken(
  authorization: string | readonly string[] | null | undefined,
  otherToken?: string | null,
  checkAlphabet = true,
): string | CredentialFailure {
  const fromHeader = scanBearer(authorization, checkAlphabet);
  if (otherToken === undefined || otherToken === null || otherToken === '') return fromHeader;
  const headerPresent = typeof fromHeader === 'string' || fromHeader.reason === 'malformed';
  if (headerPresent) return SEVERAL_WAYS;
  if (typeof otherToken !== 'string') return MALFORMED_TOKEN;
  if (otherToken.length > MAX_BEARER_TOKEN_LENGTH) return TOO_LONG;
  return isB64Token(otherToken, 0, otherToken.length) ? otherToken : MALFORMED_TOKEN;
}
