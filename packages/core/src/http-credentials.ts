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

/** RFC 6750 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** `Bearer` (any case), then whitespace: spaces separate (RFC 6750: `"Bearer" 1*SP b64token`), a tab is malformed. */
const BEARER_SCHEME = /^bearer(?=\s|$)/i;

/** Outcome of credential extraction. `description` is safe to send to the client. */
export type CredentialResult =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed'; readonly description?: string };

const MISSING: CredentialResult = Object.freeze({ ok: false, reason: 'missing' });

function malformed(description: string): CredentialResult {
  return { ok: false, reason: 'malformed', description };
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
  if (authorization === undefined || authorization === null) return MISSING;
  if (typeof authorization !== 'string') {
    if (authorization.length === 0) return MISSING;
    if (authorization.length > 1) return malformed('More than one Authorization header');
    return extractBearer(authorization[0]);
  }
  // HTTP parsers already strip the optional whitespace around a field value (SP and HTAB only,
  // RFC 9110 §5.6.3); do the same for direct callers, and nothing more.
  const value = authorization.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value === '') return MISSING;
  const scheme = BEARER_SCHEME.exec(value);
  if (!scheme) return otherScheme(value);
  let start = scheme[0].length;
  while (value.charCodeAt(start) === 32) start++;
  if (start === value.length) return malformed('Bearer scheme without a token');
  if (value.length - start > MAX_BEARER_TOKEN_LENGTH) return malformed('Bearer token too long');
  const token = value.slice(start);
  return B64TOKEN.test(token) ? { ok: true, token } : malformed('Malformed bearer token');
}

/** After a comma, OWS, then `Bearer` as a whole word: a second credential in the same value. */
const LATER_BEARER = /,[ \t]*bearer(?:[ \t]|$)/i;

/**
 * A value whose scheme is not `Bearer`: no bearer credential (`missing`), unless a `Bearer`
 * credential follows a comma. That is how the Fetch API's `Headers` (Hono, Bun, Deno, Workers)
 * hand over several `Authorization` headers, joined with ", "; `Authorization` is a singleton
 * field, not a list, so `Basic …, Bearer …` is two credentials, as on node.
 */
function otherScheme(value: string): CredentialResult {
  if (value.indexOf(',') === -1 || !LATER_BEARER.test(value)) return MISSING;
  return malformed('More than one credential in the Authorization header');
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
  const fromHeader = extractBearer(authorization);
  if (otherToken === undefined || otherToken === null || otherToken === '') return fromHeader;
  const headerPresent = fromHeader.ok || fromHeader.reason === 'malformed';
  if (headerPresent) return malformed('Credentials sent more than one way');
  if (typeof otherToken !== 'string') return malformed('Malformed bearer token');
  if (otherToken.length > MAX_BEARER_TOKEN_LENGTH) return malformed('Bearer token too long');
  return B64TOKEN.test(otherToken)
    ? { ok: true, token: otherToken }
    : malformed('Malformed bearer token');
}
