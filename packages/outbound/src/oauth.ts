/**
 * OAuth 2.0 client-credentials tokens (RFC 6749 §4.4) as a token source, on `oauth4webapi`
 * (an optional peer: install it to use this entry point).
 */
import type { webcrypto } from 'node:crypto';
// Through the package's own name (an external of the build), so that the subpath and the main
// entry share one copy of the classes: `instanceof TokenUnavailableError` works in CJS too.
import {
  createTokenSource,
  type TokenSource,
  TokenSourceError,
  type TokenSourceOptions,
} from '@authcache/outbound';
import * as oauth from 'oauth4webapi';

type CryptoKey = webcrypto.CryptoKey;

/** The token endpoint (or discovery) refused: `error` is the OAuth error code (`invalid_client`, …). */
export class OAuthTokenError extends TokenSourceError {
  /** The OAuth `error` of the response, e.g. `invalid_client`, `invalid_scope`. */
  readonly error: string;
  /** The HTTP status of the response. */
  readonly status: number;
  /** The server's `error_description`, if any. */
  readonly description: string | undefined;
  constructor(error: string, status: number, description?: string, options?: { cause?: unknown }) {
    super('OAUTH_TOKEN_ERROR', `token endpoint answered ${status} ${error}`, options);
    this.error = error;
    this.status = status;
    this.description = description;
  }
}

/** Options of {@link oauthClientCredentials}. */
export interface OAuthClientCredentialsOptions extends Omit<TokenSourceOptions, 'fetch'> {
  /** The issuer identifier; its metadata is discovered at `/.well-known/openid-configuration`. */
  issuer: string | URL;
  /** Discovery document to fetch. Default: `'oidc'` (`openid-configuration`); `'oauth2'` for RFC 8414. */
  discovery?: 'oidc' | 'oauth2';
  clientId: string;
  /** A client secret, sent with HTTP Basic (`client_secret_basic`). */
  clientSecret?: string;
  /** Or a private key for `private_key_jwt` (RFC 7523): a `CryptoKey`, or one with its `kid`. */
  privateKeyJwt?: CryptoKey | { key: CryptoKey; kid?: string };
  /** Space-separated scopes to ask for. Default: none. */
  scope?: string;
  /** The `resource` (RFC 8707) the token is for; several resources as an array. */
  resource?: string | string[];
  /** More token request parameters (e.g. `audience` for providers that use it). */
  parameters?: Record<string, string>;
  /** Lifetime assumed when the response has no `expires_in`, in ms. Default: `300_000`. */
  defaultTtl?: number;
  /** Allow `http:` URLs (tests and local development only). Default: `false`. */
  allowInsecureRequests?: boolean;
  /** The `fetch` used for discovery and the token endpoint. Default: the global `fetch`. */
  fetchImpl?: typeof fetch;
}

/**
 * A source of client-credentials access tokens: discovery once (again after a failure), then a
 * token request per refresh, `expires_in` as the expiry. Token-endpoint errors become
 * {@link OAuthTokenError} (the `cause` of the `TokenUnavailableError` that `get()` throws).
 */
export function oauthClientCredentials(options: OAuthClientCredentialsOptions): TokenSource {
  const {
    issuer,
    clientId,
    clientSecret,
    privateKeyJwt,
    scope,
    resource,
    parameters,
    discovery = 'oidc',
    defaultTtl = 300_000,
    allowInsecureRequests = false,
    fetchImpl,
    ...sourceOptions
  } = options;
  if ((clientSecret === undefined) === (privateKeyJwt === undefined)) {
    throw new TypeError(
      'oauthClientCredentials: give exactly one of clientSecret and privateKeyJwt',
    );
  }
  const issuerUrl = new URL(issuer);
  const client: oauth.Client = { client_id: clientId };
  const auth: oauth.ClientAuth =
    clientSecret !== undefined
      ? oauth.ClientSecretBasic(clientSecret)
      : oauth.PrivateKeyJwt(
          // A CryptoKey has a `type` ('private'); { key, kid } does not.
          'type' in (privateKeyJwt as object)
            ? { key: privateKeyJwt as CryptoKey }
            : (privateKeyJwt as { key: CryptoKey; kid?: string }),
        );
  const http = (signal: AbortSignal) => ({
    signal,
    [oauth.allowInsecureRequests]: allowInsecureRequests,
    ...(fetchImpl ? { [oauth.customFetch]: fetchImpl } : {}),
  });
  let server: oauth.AuthorizationServer | undefined;

  async function fetchToken(signal: AbortSignal) {
    try {
      if (!server) {
        const response = await oauth.discoveryRequest(issuerUrl, {
          algorithm: discovery,
          ...http(signal),
        });
        server = await oauth.processDiscoveryResponse(issuerUrl, response);
      }
      const params = new URLSearchParams(parameters);
      if (scope) params.set('scope', scope);
      for (const r of typeof resource === 'string' ? [resource] : (resource ?? [])) {
        params.append('resource', r);
      }
      const response = await oauth.clientCredentialsGrantRequest(
        server,
        client,
        auth,
        params,
        http(signal),
      );
      const result = await oauth.processClientCredentialsResponse(server, client, response);
      const expiresIn = result.expires_in;
      return typeof expiresIn === 'number' && expiresIn > 0
        ? { token: result.access_token, ttl: expiresIn * 1000 }
        : { token: result.access_token, ttl: defaultTtl };
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError) {
        throw new OAuthTokenError(error.error, error.status, error.error_description, {
          cause: error,
        });
      }
      if (error instanceof oauth.WWWAuthenticateChallengeError) {
        // A 401 with WWW-Authenticate (e.g. a client secret the server does not accept).
        const parameters = error.cause[0]?.parameters;
        throw new OAuthTokenError(
          parameters?.error ?? 'invalid_client',
          error.status,
          parameters?.error_description,
          { cause: error },
        );
      }
      server = undefined; // discovery again next time: the issuer may have moved
      throw error;
    }
  }

  return createTokenSource({
    name: `oauth:${issuerUrl.href}:${clientId}${scope ? `:${scope}` : ''}`,
    ...sourceOptions,
    fetch: fetchToken,
  });
}
