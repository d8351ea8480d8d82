/**
 * `sigv4Auth` for Koa 3: AWS Signature V4 (S3- and DynamoDB-style endpoints). Verification lives
 * in `@authcache/sigv4`; this file only moves values in and out of Koa.
 */
import type { Identity, RequestAuth } from '@authcache/core';
// The package's own name, not './index.js': the built sigv4.d.cts then reaches index.d.cts.
import type { AuthState } from '@authcache/koa';
import {
  prepareSigV4Auth,
  type SigV4AuthOptions,
  type SigV4Success,
  sigv4ErrorResponse,
  verifyNodeRequest,
} from '@authcache/sigv4';
import type { Middleware } from 'koa';

/** What `sigv4Auth` adds to `ctx.state`. */
export interface SigV4State extends AuthState {
  /**
   * The accepted SigV4 request. For S3, read the body through `verifiedNodeBody(ctx.req,
   * ctx.state.sigv4)` (it decodes aws-chunked uploads and checks the signed payload).
   */
  sigv4?: SigV4Success<Identity>;
}

/** Options of {@link sigv4Auth}; see `SigV4AuthOptions` in `@authcache/sigv4`. */
export type KoaSigV4AuthOptions = SigV4AuthOptions;

/**
 * Verifies AWS SigV4 requests (Authorization header or presigned URL) against `ctx.originalUrl`
 * and the raw headers. On success sets `ctx.state.auth` (`path: 'sigv4'`) and `ctx.state.sigv4`;
 * on failure answers as AWS does (S3 XML or JSON, with a `Date` header) and stops there.
 * Mount it before body parsers: for non-S3 services it reads the raw body and puts it back.
 *
 * @example app.use(sigv4Auth({ auth, keyring, service: 's3', region: 'us-east-1' }));
 */
export function sigv4Auth(options: KoaSigV4AuthOptions): Middleware<SigV4State> {
  const { verifier, protocol, bodyLimit } = prepareSigV4Auth(options);
  return async function sigv4(ctx, next) {
    const result = await verifyNodeRequest(verifier, ctx.req, {
      rawPath: ctx.originalUrl,
      bodyLimit,
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
