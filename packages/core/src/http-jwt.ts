import {
  createRemoteJWKSet,
  errors,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import type { Identity } from './types.js';

/** Claim checks shared by both ways of verifying a JWT. */
export interface JwtClaimOptions {
  /** Accepted `iss` value(s). Default: any issuer (the claim is not checked). */
  issuer?: string | readonly string[];
  /** Accepted `aud` value(s); the token must name at least one. Default: not checked. */
  audience?: string | readonly string[];
  /**
   * Accepted JWS `alg` values. Default: `['HS256', 'HS384', 'HS512']` with `secret`; with
   * `jwksUrl`, whatever `alg` the matching key allows (jose never lets an HMAC `alg` use a
   * public key, so the classic algorithm-confusion attack is closed either way).
   */
  algorithms?: readonly string[];
  /** Seconds of leeway for `exp` and `nbf`. Default: `0`. */
  clockTolerance?: number;
}

/** Verify with a shared secret (HMAC). */
export interface JwtSecretOptions extends JwtClaimOptions {
  /** The HMAC key; a string is used as its UTF-8 bytes. Use at least 32 random bytes. */
  secret: string | Uint8Array;
}

/** Verify with the public keys published at a JWKS URL. */
export interface JwtJwksOptions extends JwtClaimOptions {
  /**
   * Where the JSON Web Key Set is served. One key set (and its cache) is kept per URL for the
   * life of the process, shared by every middleware that names the same URL and timing options.
   */
  jwksUrl: string | URL;
  /** How long one JWKS fetch may take before the request is answered 503, in ms. Default: `5_000`. */
  jwksTimeout?: number;
  /**
   * After a fetch, how long a token with an unknown `kid` is rejected (401) without fetching
   * again, in ms. Default: `30_000` (jose's default).
   */
  jwksCooldown?: number;
  /** How long fetched keys are used before they are fetched again, in ms. Default: `600_000`. */
  jwksCacheMaxAge?: number;
}

/**
 * How JWTs are verified: `{ secret }` or `{ jwksUrl }`, plus optional claim checks.
 * A JWT is accepted only if it is signed, unexpired, not before its `nbf`, and has a string `sub`.
 */
export type JwtOptions = JwtSecretOptions | JwtJwksOptions;

/** Outcome of a {@link JwtVerifier}. JWTs are never cached: every call verifies. */
export type JwtResult =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly reason: 'invalid' | 'expired' | 'unavailable' };

/** Verifies one compact JWS. Never throws. */
export type JwtVerifier = (token: string) => Promise<JwtResult>;

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;
/** One remote key set per URL (and timing options), so its key cache is shared process-wide. */
const remoteKeySets = new Map<string, RemoteKeySet>();

function remoteKeySet(options: JwtJwksOptions): RemoteKeySet {
  const url = new URL(options.jwksUrl);
  const timing = {
    timeoutDuration: options.jwksTimeout ?? 5_000,
    cooldownDuration: options.jwksCooldown ?? 30_000,
    cacheMaxAge: options.jwksCacheMaxAge ?? 600_000,
  };
  const key = `${url.href} ${timing.timeoutDuration} ${timing.cooldownDuration} ${timing.cacheMaxAge}`;
  let set = remoteKeySets.get(key);
  if (!set) {
    set = createRemoteJWKSet(url, timing);
    remoteKeySets.set(key, set);
  }
  return set;
}

/** jose error codes that say "the key source failed", not "the token is bad". */
const KEY_SOURCE_FAILURES = new Set([
  errors.JWKSTimeout.code,
  errors.JWKSInvalid.code,
  // Non-200 answer or unparsable body from the JWKS endpoint.
  errors.JOSEError.code,
]);

function scopesOf(payload: JWTPayload): string[] {
  const { scope, scp } = payload as { scope?: unknown; scp?: unknown };
  const source = scope ?? scp;
  if (typeof source === 'string') return source.split(' ').filter(Boolean);
  if (Array.isArray(source)) return source.filter((s): s is string => typeof s === 'string');
  return [];
}

/** The identity of a verified JWT: `kind: 'jwt'`, `subject` = `sub`, claims in `attributes`. */
export function jwtIdentity(payload: JWTPayload): Identity {
  return {
    kind: 'jwt',
    tokenId: typeof payload.jti === 'string' ? payload.jti : '',
    subject: payload.sub ?? '',
    scopes: scopesOf(payload),
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    attributes: { claims: payload },
  };
}

/**
 * Builds a verifier with `jose`'s `jwtVerify`. Bad signature, wrong `alg`/`iss`/`aud`, missing
 * `sub` or a malformed JWT → `invalid`; past `exp` → `expired`; the JWKS could not be fetched
 * (network error, timeout, non-200, unparsable) → `unavailable` (answer 503, not 401).
 */
export function createJwtVerifier(options: JwtOptions): JwtVerifier {
  if (!options || typeof options !== 'object') throw new TypeError('jwt: options are required');
  const hasSecret = 'secret' in options && options.secret !== undefined;
  const hasJwks = 'jwksUrl' in options && options.jwksUrl !== undefined;
  if (hasSecret === hasJwks) throw new TypeError('jwt: give exactly one of `secret` or `jwksUrl`');

  const verifyOptions: JWTVerifyOptions = { requiredClaims: ['sub'] };
  if (options.issuer !== undefined) verifyOptions.issuer = options.issuer as string | string[];
  if (options.audience !== undefined)
    verifyOptions.audience = options.audience as string | string[];
  if (options.clockTolerance !== undefined) verifyOptions.clockTolerance = options.clockTolerance;
  if (options.algorithms !== undefined) verifyOptions.algorithms = [...options.algorithms];

  let verify: (token: string) => Promise<JWTPayload>;
  if (hasSecret) {
    const { secret } = options as JwtSecretOptions;
    const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (key.length === 0) throw new TypeError('jwt: secret must not be empty');
    verifyOptions.algorithms ??= ['HS256', 'HS384', 'HS512'];
    verify = async (token) => (await jwtVerify(token, key, verifyOptions)).payload;
  } else {
    const keySet = remoteKeySet(options as JwtJwksOptions);
    verify = async (token) => (await jwtVerify(token, keySet, verifyOptions)).payload;
  }

  return async (token) => {
    try {
      const payload = await verify(token);
      if (typeof payload.sub !== 'string' || payload.sub === '')
        return { ok: false, reason: 'invalid' };
      return { ok: true, identity: jwtIdentity(payload) };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      if (error instanceof errors.JOSEError && !KEY_SOURCE_FAILURES.has(error.code)) {
        return { ok: false, reason: 'invalid' };
      }
      // fetch() network errors are plain TypeErrors: the key source is down, fail closed with 503.
      return { ok: false, reason: 'unavailable' };
    }
  };
}
