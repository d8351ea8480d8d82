import { type Fixture, JWT_SECRET, STOPPED_JWKS_OPTIONS, signHs256 } from './fixture.js';

/**
 * Request headers of a case. An array value is sent as that many separate header lines (node's
 * http client, and supertest on top of it, do so).
 */
export type TestHeaders = Record<string, string | string[]>;

/** Which middleware a route uses, with core option values (the adapter adds its own getToken/skip). */
export interface RouteSpec {
  readonly path: string;
  readonly middleware: 'patAuth' | 'daemonAuth' | 'bearerAuth';
  readonly options: Readonly<Record<string, unknown>>;
  /** Also read a credential from the `token` cookie through the adapter's `getToken`. */
  readonly cookie?: boolean;
  /** Skip authentication when the request has `x-skip: 1`, through the adapter's `skip`. */
  readonly skipHeader?: boolean;
}

/**
 * The routes every adapter mounts. Each answers 200 with JSON `{ "auth": <identity or null> }`
 * once the middleware lets the request through, for GET and OPTIONS.
 */
export function routes(f: Fixture): RouteSpec[] {
  const jwt = { secret: JWT_SECRET };
  return [
    { path: '/pat', middleware: 'patAuth', options: { auth: f.auth } },
    { path: '/pat-realm', middleware: 'patAuth', options: { auth: f.auth, realm: 'ac"me' } },
    { path: '/pat-optional', middleware: 'patAuth', options: { auth: f.auth, required: false } },
    { path: '/pat-write', middleware: 'patAuth', options: { auth: f.auth, scopes: ['write'] } },
    { path: '/pat-cookie', middleware: 'patAuth', options: { auth: f.auth }, cookie: true },
    { path: '/pat-skip', middleware: 'patAuth', options: { auth: f.auth }, skipHeader: true },
    { path: '/pat-late', middleware: 'patAuth', options: { auth: f.lateAuth } },
    { path: '/down', middleware: 'patAuth', options: { auth: f.downAuth, retryAfter: 7 } },
    {
      path: '/down-optional',
      middleware: 'patAuth',
      options: { auth: f.downAuth, required: false },
    },
    { path: '/daemon', middleware: 'daemonAuth', options: { auth: f.auth, jwt } },
    { path: '/daemon-nojwt', middleware: 'daemonAuth', options: { auth: f.auth } },
    { path: '/jwt', middleware: 'bearerAuth', options: { auth: f.auth, kinds: [], jwt } },
    {
      path: '/jwks',
      middleware: 'bearerAuth',
      options: { auth: f.auth, kinds: ['pat'], jwt: { jwksUrl: f.jwks.url, audience: 'api' } },
    },
    {
      path: '/jwks-stopped',
      middleware: 'bearerAuth',
      options: {
        auth: f.auth,
        kinds: [],
        jwt: { jwksUrl: f.jwksStopped.url, ...STOPPED_JWKS_OPTIONS },
      },
    },
    {
      path: '/jwks-down',
      middleware: 'bearerAuth',
      options: { auth: f.auth, kinds: ['pat'], jwt: { jwksUrl: f.jwksDownUrl } },
    },
  ];
}

/** What one request should get. */
export interface Expectation {
  readonly status: number;
  /** Exact `WWW-Authenticate`, a pattern, or `null` for "absent". Default: not checked. */
  readonly wwwAuthenticate?: string | RegExp | null;
  /** Exact `Retry-After`, or `null` for "absent". Default: not checked. */
  readonly retryAfter?: string | null;
  /** For 200: the JSON `auth` the route answers (`null` = no identity); partial match. */
  readonly auth?: Record<string, unknown> | null;
}

export interface ConformanceCase {
  readonly name: string;
  readonly method?: 'GET' | 'OPTIONS';
  readonly path: string;
  /** An array value is sent as several header lines with that name. */
  readonly headers: (f: Fixture) => Promise<TestHeaders> | TestHeaders;
  readonly expect: (f: Fixture) => Expectation;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const now = () => Math.floor(Date.now() / 1000);
const CHALLENGE = 'Bearer realm="api"';
const invalidToken = (description: RegExp) =>
  new RegExp(
    `^Bearer realm="api", error="invalid_token", error_description="${description.source}"$`,
  );
const INVALID_REQUEST =
  /^Bearer realm="api", error="invalid_request", error_description="[^"\\]+"$/;
const SEVERAL_HEADERS =
  'Bearer realm="api", error="invalid_request", error_description="More than one Authorization header"';
const BASIC = 'Basic dXNlcjpwYXNz';

const patIdentity = (f: Fixture) => ({
  kind: 'pat',
  path: 'pat',
  tokenId: f.tokens.pat.id,
  subject: 'user-1',
  scopes: ['read'],
  expiresAt: null,
  name: 'laptop',
});

/** The one table of cases every adapter must answer identically. */
export const cases: readonly ConformanceCase[] = [
  // No credentials: a bare challenge, no error code (RFC 6750 §3.1).
  {
    name: 'no Authorization header → 401, bare challenge',
    path: '/pat',
    headers: () => ({}),
    expect: () => ({ status: 401, wwwAuthenticate: CHALLENGE, retryAfter: null }),
  },
  {
    name: 'realm is configurable and quoted safely',
    path: '/pat-realm',
    headers: () => ({}),
    expect: () => ({ status: 401, wwwAuthenticate: 'Bearer realm="acme"' }),
  },
  {
    name: 'another scheme (Basic) counts as no credentials → 401, bare challenge',
    path: '/pat',
    headers: () => ({ Authorization: 'Basic dXNlcjpwYXNz' }),
    expect: () => ({ status: 401, wwwAuthenticate: CHALLENGE }),
  },
  // Success and identity shape.
  {
    name: 'valid PAT → 200 with the identity',
    path: '/pat',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'lower-case "bearer" scheme → 200',
    path: '/pat',
    headers: (f) => ({ Authorization: `bearer ${f.tokens.pat.token}` }),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'upper-case "BEARER" scheme → 200',
    path: '/pat',
    headers: (f) => ({ Authorization: `BEARER ${f.tokens.pat.token}` }),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'extra spaces after the scheme (RFC 6750: 1*SP) → 200',
    path: '/pat',
    headers: (f) => ({ Authorization: `Bearer    ${f.tokens.pat.token}` }),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  // Malformed requests: 400 invalid_request.
  {
    name: 'scheme without a token → 400 invalid_request',
    path: '/pat',
    headers: () => ({ Authorization: 'Bearer' }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'tab instead of a space → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: `Bearer\t${f.tokens.pat.token}` }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'two tokens in the header → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: `Bearer ${f.tokens.pat.token} ${f.tokens.pat.token}` }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'a 10 KB token → 400 invalid_request',
    path: '/pat',
    headers: () => ({ Authorization: `Bearer mul_${'a'.repeat(10 * 1024)}` }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'non-ASCII in the token → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: `Bearer ${f.tokens.pat.token.slice(0, -1)}é` }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'quote characters in the token → 400 invalid_request',
    path: '/pat',
    headers: () => ({ Authorization: 'Bearer "abc"' }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'header and cookie at once (two credentials) → 400 invalid_request',
    path: '/pat-cookie',
    headers: (f) => ({ ...bearer(f.tokens.pat.token), Cookie: `token=${f.tokens.pat.token}` }),
    expect: () => ({
      status: 400,
      wwwAuthenticate:
        'Bearer realm="api", error="invalid_request", error_description="Credentials sent more than one way"',
    }),
  },
  {
    name: 'cookie alone through getToken → 200',
    path: '/pat-cookie',
    headers: (f) => ({ Cookie: `token=${f.tokens.pat.token}` }),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'header alone on a getToken route → 200',
    path: '/pat-cookie',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  // Several Authorization headers. node:http keeps only the first in req.headers and Fetch
  // Headers join them with ", ": both must end in the same 400, whichever header comes first.
  {
    name: 'two Authorization headers with two valid tokens → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({
      Authorization: [`Bearer ${f.tokens.pat.token}`, `Bearer ${f.tokens.patWrite.token}`],
    }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'the same Authorization header twice → still 400 invalid_request',
    path: '/pat',
    headers: (f) => ({
      Authorization: [`Bearer ${f.tokens.pat.token}`, `Bearer ${f.tokens.pat.token}`],
    }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'a valid bearer header, then a Basic one → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: [`Bearer ${f.tokens.pat.token}`, BASIC] }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'a Basic header, then a valid bearer one → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: [BASIC, `Bearer ${f.tokens.pat.token}`] }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'two Basic headers → 400 invalid_request',
    path: '/pat',
    headers: () => ({ Authorization: [BASIC, BASIC] }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'two Authorization headers on optional auth → 400, neither anonymous nor the first identity',
    path: '/pat-optional',
    headers: (f) => ({ Authorization: [`Bearer ${f.tokens.pat.token}`, BASIC] }),
    expect: () => ({ status: 400, wwwAuthenticate: SEVERAL_HEADERS }),
  },
  {
    name: 'two bearer credentials joined by a comma in one header → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({
      Authorization: `Bearer ${f.tokens.pat.token}, Bearer ${f.tokens.patWrite.token}`,
    }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  {
    name: 'Basic, then a bearer credential after a comma in one header → 400 invalid_request',
    path: '/pat',
    headers: (f) => ({ Authorization: `${BASIC}, Bearer ${f.tokens.pat.token}` }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  // Bad tokens: 401 invalid_token.
  {
    name: 'bad checksum → 401 invalid_token (checked before any lookup)',
    path: '/pat',
    headers: (f) => bearer(f.tokens.patBadChecksum),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token is invalid/) }),
  },
  {
    name: 'unknown token → 401 invalid_token',
    path: '/pat',
    headers: (f) => bearer(f.tokens.patUnknown),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token is invalid/) }),
  },
  {
    name: 'revoked token → 401 invalid_token',
    path: '/pat',
    headers: (f) => bearer(f.tokens.patRevoked.token),
    expect: () => ({
      status: 401,
      wwwAuthenticate: invalidToken(/The access token was revoked/),
    }),
  },
  {
    name: 'expired token → 401 invalid_token',
    path: '/pat-late',
    headers: (f) => bearer(f.tokens.patExpiring.token),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token expired/) }),
  },
  {
    name: 'a token that expires later carries expiresAt',
    path: '/pat',
    headers: (f) => bearer(f.tokens.patExpiring.token),
    expect: (f) => ({
      status: 200,
      auth: {
        kind: 'pat',
        tokenId: f.tokens.patExpiring.id,
        expiresAt: f.tokens.patExpiring.expiresAt,
      },
    }),
  },
  {
    name: 'daemon token on a PAT route → 401 invalid_token',
    path: '/pat',
    headers: (f) => bearer(f.tokens.daemon.token),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token is invalid/) }),
  },
  {
    name: 'a JWT on a route without jwt → 401 invalid_token',
    path: '/pat',
    headers: async () => bearer(await signHs256({ sub: 'user-1' })),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token is invalid/) }),
  },
  // Optional auth.
  {
    name: 'optional auth without credentials → 200, no identity',
    path: '/pat-optional',
    headers: () => ({}),
    expect: () => ({ status: 200, auth: null }),
  },
  {
    name: 'optional auth with a valid token → 200 with the identity',
    path: '/pat-optional',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'optional auth with a bad token → still 401',
    path: '/pat-optional',
    headers: (f) => bearer(f.tokens.patUnknown),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  {
    name: 'optional auth with a malformed header → still 400',
    path: '/pat-optional',
    headers: () => ({ Authorization: 'Bearer' }),
    expect: () => ({ status: 400, wwwAuthenticate: INVALID_REQUEST }),
  },
  // Scopes.
  {
    name: 'missing scope → 403 insufficient_scope with scope=',
    path: '/pat-write',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: () => ({
      status: 403,
      wwwAuthenticate:
        'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="write"',
    }),
  },
  {
    name: 'held scope → 200',
    path: '/pat-write',
    headers: (f) => bearer(f.tokens.patWrite.token),
    expect: () => ({ status: 200, auth: { subject: 'user-2', scopes: ['read', 'write'] } }),
  },
  {
    name: 'scopes are checked after validity: bad token on a scoped route → 401',
    path: '/pat-write',
    headers: (f) => bearer(f.tokens.patRevoked.token),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  // Store outage: 503 with Retry-After, never 401, never a bypass.
  {
    name: 'store down → 503 with Retry-After, no challenge',
    path: '/down',
    headers: (f) => bearer(f.tokens.patOnDownStore),
    expect: () => ({ status: 503, retryAfter: '7', wwwAuthenticate: null }),
  },
  {
    name: 'store down on optional auth with a token → 503, not anonymous',
    path: '/down-optional',
    headers: (f) => bearer(f.tokens.patOnDownStore),
    expect: () => ({ status: 503, retryAfter: '5' }),
  },
  {
    name: 'store down, no credentials → 401 (nothing to look up)',
    path: '/down',
    headers: () => ({}),
    expect: () => ({ status: 401, wwwAuthenticate: CHALLENGE }),
  },
  {
    name: 'store down, malformed token → 401 without touching the store',
    path: '/down',
    headers: (f) => bearer(f.tokens.patBadChecksum),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  // daemonAuth: daemon tokens first, with a PAT fallback.
  {
    name: 'daemonAuth: daemon token → 200, path daemon_token, workspace and daemon ids',
    path: '/daemon',
    headers: (f) => bearer(f.tokens.daemon.token),
    expect: (f) => ({
      status: 200,
      auth: {
        kind: 'daemon',
        path: 'daemon_token',
        tokenId: f.tokens.daemon.id,
        subject: 'daemon-1',
        workspaceId: 'ws-1',
        daemonId: 'daemon-1',
        expiresAt: null,
      },
    }),
  },
  {
    name: 'daemonAuth: falls back to a PAT → 200, path pat',
    path: '/daemon',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'daemonAuth: falls back to a JWT when configured → 200, path jwt',
    path: '/daemon',
    headers: async () => bearer(await signHs256({ sub: 'user-7', scope: 'a b', jti: 'j-1' })),
    expect: () => ({
      status: 200,
      auth: { kind: 'jwt', path: 'jwt', subject: 'user-7', tokenId: 'j-1', scopes: ['a', 'b'] },
    }),
  },
  {
    name: 'daemonAuth without jwt: a JWT → 401',
    path: '/daemon-nojwt',
    headers: async () => bearer(await signHs256({ sub: 'user-7' })),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  {
    name: 'daemonAuth: revoked PAT → 401',
    path: '/daemon',
    headers: (f) => bearer(f.tokens.patRevoked.token),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  // JWT.
  {
    name: 'JWT (secret) valid → 200, identity from claims',
    path: '/jwt',
    headers: async () => bearer(await signHs256({ sub: 'svc', exp: now() + 600, scp: ['x'] })),
    expect: () => ({
      status: 200,
      auth: { kind: 'jwt', path: 'jwt', subject: 'svc', tokenId: '', scopes: ['x'] },
    }),
  },
  {
    name: 'JWT expired → 401 invalid_token',
    path: '/jwt',
    headers: async () => bearer(await signHs256({ sub: 'svc', exp: now() - 60 })),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token expired/) }),
  },
  {
    name: 'JWT bad signature → 401 invalid_token',
    path: '/jwt',
    headers: async () =>
      bearer(await signHs256({ sub: 'svc' }, 'another-secret-another-secret-another-secret')),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/The access token is invalid/) }),
  },
  {
    name: 'JWT from a JWKS → 200',
    path: '/jwks',
    headers: async (f) => bearer(await f.jwks.sign({ sub: 'svc-2', aud: 'api', exp: now() + 600 })),
    expect: () => ({ status: 200, auth: { kind: 'jwt', subject: 'svc-2' } }),
  },
  {
    name: 'JWT from a JWKS with the wrong audience → 401',
    path: '/jwks',
    headers: async (f) => bearer(await f.jwks.sign({ sub: 'svc-2', aud: 'other' })),
    expect: () => ({ status: 401, wwwAuthenticate: invalidToken(/.+/) }),
  },
  {
    name: 'PAT still accepted on a JWKS route with kinds [pat]',
    path: '/jwks',
    headers: (f) => bearer(f.tokens.pat.token),
    expect: (f) => ({ status: 200, auth: patIdentity(f) }),
  },
  {
    name: 'JWKS down → 503 with Retry-After, not 401',
    path: '/jwks-down',
    headers: async (f) => bearer(await f.jwks.sign({ sub: 'svc-2' })),
    expect: () => ({ status: 503, retryAfter: '5', wwwAuthenticate: null }),
  },
  {
    name: 'JWKS stopped after a fetch: a token with a cached key still verifies',
    path: '/jwks-stopped',
    headers: async (f) => bearer(await f.jwksStopped.sign({ sub: 'svc-3' })),
    expect: () => ({ status: 200, auth: { kind: 'jwt', subject: 'svc-3' } }),
  },
  {
    name: 'JWKS stopped after a fetch: a key that must be fetched → 503, not 401',
    path: '/jwks-stopped',
    headers: async (f) => bearer(await f.jwksStopped.signWithUnservedKey({ sub: 'svc-3' })),
    expect: () => ({ status: 503, retryAfter: '5', wwwAuthenticate: null }),
  },
  // Skip and CORS preflight.
  {
    name: 'skip predicate → 200 without authentication',
    path: '/pat-skip',
    headers: () => ({ 'x-skip': '1' }),
    expect: () => ({ status: 200, auth: null }),
  },
  {
    name: 'skip predicate false → authentication applies',
    path: '/pat-skip',
    headers: () => ({}),
    expect: () => ({ status: 401, wwwAuthenticate: CHALLENGE }),
  },
  {
    name: 'CORS preflight passes without credentials',
    method: 'OPTIONS',
    path: '/pat',
    headers: () => ({ Origin: 'https://app.test', 'Access-Control-Request-Method': 'GET' }),
    expect: () => ({ status: 200, auth: null }),
  },
  {
    name: 'a plain OPTIONS (not a preflight) is authenticated',
    method: 'OPTIONS',
    path: '/pat',
    headers: () => ({}),
    expect: () => ({ status: 401, wwwAuthenticate: CHALLENGE }),
  },
];
