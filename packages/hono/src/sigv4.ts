/**
 * `sigv4Auth` for Hono: AWS Signature V4 (S3- and DynamoDB-style endpoints). Verification lives in
 * `@authcache/sigv4`; this file only moves values in and out of Hono.
 */
import type { IncomingMessage } from 'node:http';
import type { Identity, RequestAuth } from '@authcache/core';
import {
  prepareSigV4Auth,
  readNodeBody,
  type SigV4AuthOptions,
  type SigV4Request,
  type SigV4Success,
  sigv4ErrorResponse,
} from '@authcache/sigv4';
import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * The accepted SigV4 request, set by `sigv4Auth`. For S3, read the body through
     * `verifiedWebBody(c.req.raw.body, c.var.sigv4)`.
     */
    sigv4?: SigV4Success<Identity>;
  }
}

/** Env of a route behind `sigv4Auth`: `c.var.auth` and `c.var.sigv4` are always set. */
export type SigV4Env = { Variables: { auth: RequestAuth; sigv4: SigV4Success<Identity> } };

/** Options of {@link sigv4Auth}; see `SigV4AuthOptions` in `@authcache/sigv4`. */
export type HonoSigV4AuthOptions = SigV4AuthOptions;

/**
 * Verifies AWS SigV4 requests (Authorization header or presigned URL). Under
 * `@hono/node-server` it reads the raw target and headers from the node request (`c.env.incoming`);
 * elsewhere from `c.req.raw`, whose URL and `Headers` are already normalised (repeated headers
 * joined with ", "), which a few exotic requests then fail. On success sets `c.var.auth`
 * (`path: 'sigv4'`) and `c.var.sigv4`; on failure answers as AWS does (S3 XML or JSON, with a
 * `Date` header).
 *
 * @example app.use('/s3/*', sigv4Auth({ auth, keyring, service: 's3', region: 'us-east-1' }));
 */
export function sigv4Auth(options: HonoSigV4AuthOptions): MiddlewareHandler<SigV4Env> {
  const { verifier, protocol, bodyLimit } = prepareSigV4Auth(options);
  return createMiddleware<SigV4Env>(async function sigv4(c, next) {
    const url = new URL(c.req.url);
    const refuse = (error: unknown) => {
      const answer = sigv4ErrorResponse(error, {
        protocol,
        method: c.req.method,
        resource: url.pathname,
      });
      return c.newResponse(answer.body, answer.status as ContentfulStatusCode, answer.headers);
    };
    let body: Uint8Array | undefined;
    if (!verifier.s3) {
      try {
        body = c.req.raw.body ? await readNodeBody(c.req.raw.body, bodyLimit) : new Uint8Array(0);
      } catch (error) {
        return refuse(error);
      }
      // Later handlers read the body through Hono's cache (`c.req.json()` and the like), which
      // holds promises at run time although its type says values.
      const bytes = body;
      (c.req.bodyCache as { arrayBuffer?: Promise<ArrayBuffer> }).arrayBuffer = Promise.resolve(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      );
    }
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const request: SigV4Request = {
      method: c.req.method,
      rawPath: incoming?.url ?? url.pathname + url.search,
      headers: incoming?.rawHeaders ?? c.req.raw.headers,
      ...(body !== undefined ? { body } : {}),
    };
    const result = await verifier.verify(request);
    if (!result.ok) return refuse(result.error);
    c.set('sigv4', result);
    c.set('auth', { ...result.principal, path: 'sigv4' });
    await next();
  });
}
