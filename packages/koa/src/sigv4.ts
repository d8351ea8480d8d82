/**
 * `sigv4Auth` for Koa 3: AWS Signature V4 (S3- and DynamoDB-style endpoints). Verification lives
 * in `@authcache/sigv4`; this file only moves values in and out of Koa.
 */
import type { Identity, RequestAuth } from '@authcache/core';
import {
  type CachedSigV4VerifierOptions,
  createCachedSigV4Verifier,
  type SigV4ErrorProtocol,
  type SigV4Success,
  type SigV4Verifier,
  sigv4ErrorResponse,
  verifyNodeRequest,
} from '@authcache/sigv4';
import type { Middleware } from 'koa';
import type { AuthState } from './index.js';

/** What `sigv4Auth` adds to `ctx.state`. */
export interface SigV4State extends AuthState {
  /**
   * The accepted SigV4 request. For S3, read the body through `verifiedNodeBody(ctx.req,
   * ctx.state.sigv4)` (it decodes aws-chunked uploads and checks the signed payload).
   */
  sigv4?: SigV4Success<Identity>;
}

/** Options of {@link sigv4Auth}: a verifier, or what it takes to build one over the auth cache. */
export type KoaSigV4AuthOptions = (
  | CachedSigV4VerifierOptions
  | { verifier: SigV4Verifier<Identity> }
) & {
  /** Error body format: S3 XML or JSON-protocol `__type`. Default: `xml` for S3, else `json`. */
  protocol?: SigV4ErrorProtocol;
  /**
   * Largest body read for services that sign the body (not S3); it is put back for later body
   * parsers. Default: `1 MiB`.
   */
  bodyLimit?: number;
};

/**
 * Verifies AWS SigV4 requests (Authorization header or presigned URL) against `ctx.originalUrl`
 * and the raw headers. On success sets `ctx.state.auth` (`path: 'sigv4'`) and `ctx.state.sigv4`;
 * on failure answers as AWS does (S3 XML or JSON, with a `Date` header) and stops there.
 * Mount it before body parsers: for non-S3 services it reads the raw body and puts it back.
 *
 * @example app.use(sigv4Auth({ auth, keyring, service: 's3', region: 'us-east-1' }));
 */
export function sigv4Auth(options: KoaSigV4AuthOptions): Middleware<SigV4State> {
  const { protocol: protocolOption, bodyLimit, ...rest } = options;
  const verifier = 'verifier' in rest ? rest.verifier : createCachedSigV4Verifier(rest);
  const protocol = protocolOption ?? (verifier.s3 ? 'xml' : 'json');
  return async function sigv4(ctx, next) {
    const result = await verifyNodeRequest(verifier, ctx.req, {
      rawPath: ctx.originalUrl,
      ...(bodyLimit !== undefined ? { bodyLimit } : {}),
    });
    if (!result.ok) {
      const answer = sigv4ErrorResponse(result.error, {
        protocol,
        method: ctx.method,
        resource: ctx.originalUrl.split('?')[0],
      });
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
      return;
    }
    ctx.state.sigv4 = result;
    const auth: RequestAuth = { ...result.principal, path: 'sigv4' };
    ctx.state.auth = auth;
    await next();
  };
}
