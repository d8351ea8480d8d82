import type { Identity } from '@authcache/core';
import { type CachedSigV4VerifierOptions, createCachedSigV4Verifier } from './access-keys.js';
import type { SigV4ErrorProtocol } from './errors.js';
import type { SigV4Verifier } from './verify-types.js';

/**
 * Options of the adapters' `sigv4Auth` (express, koa, hono): a ready verifier, or what it takes
 * to build one over the auth cache.
 */
export type SigV4AuthOptions = (
  | CachedSigV4VerifierOptions
  | { verifier: SigV4Verifier<Identity> }
) & {
  /** Error body format: S3 XML or JSON-protocol `__type`. Default: `xml` for S3, else `json`. */
  protocol?: SigV4ErrorProtocol;
  /**
   * Largest body read for services that sign the body (not S3); it is put back (or cached by
   * the framework) for later body parsers. Default: `1 MiB`.
   */
  bodyLimit?: number;
};

/** What an adapter needs at request time, resolved once when the middleware is built. */
export interface PreparedSigV4Auth {
  verifier: SigV4Verifier<Identity>;
  protocol: SigV4ErrorProtocol;
  bodyLimit: number;
}

/** Default of {@link SigV4AuthOptions.bodyLimit}. */
export const DEFAULT_SIGV4_BODY_LIMIT = 1024 * 1024;

/** Resolves `sigv4Auth` options into a verifier, an error protocol and a body limit. */
export function prepareSigV4Auth(options: SigV4AuthOptions): PreparedSigV4Auth {
  const { protocol, bodyLimit = DEFAULT_SIGV4_BODY_LIMIT, ...rest } = options;
  const verifier = 'verifier' in rest ? rest.verifier : createCachedSigV4Verifier(rest);
  return { verifier, protocol: protocol ?? (verifier.s3 ? 'xml' : 'json'), bodyLimit };
}
