/**
 * `sigv4Auth` for Express 5: AWS Signature V4 (S3- and DynamoDB-style endpoints). Verification
 * lives in `@authcache/sigv4`; this file only moves values in and out of Express.
 */
import type { Identity, RequestAuth } from '@authcache/core';
import {
  prepareSigV4Auth,
  type SigV4AuthOptions,
  type SigV4Success,
  sigv4ErrorResponse,
  verifyNodeRequest,
} from '@authcache/sigv4';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

declare global {
  namespace Express {
    interface Request {
      /**
       * The identity `sigv4Auth` accepted (`path: 'sigv4'`). Declared here too (as in the main
       * entry) so that the `/sigv4` entry's types stand alone.
       */
      auth?: RequestAuth;
      /**
       * The accepted SigV4 request, set by `sigv4Auth`. For S3, read the body through
       * `verifiedNodeBody(req, req.sigv4)` (it decodes aws-chunked uploads and checks the
       * signed payload hash or checksum trailer).
       */
      sigv4?: SigV4Success<Identity>;
    }
  }
}

/** Options of {@link sigv4Auth}; see `SigV4AuthOptions` in `@authcache/sigv4`. */
export type ExpressSigV4AuthOptions = SigV4AuthOptions;

/**
 * Verifies AWS SigV4 requests (Authorization header or presigned URL) against `req.originalUrl`
 * and the raw headers. On success sets `req.auth` (`path: 'sigv4'`) and `req.sigv4`; on failure
 * answers as AWS does (S3 XML or JSON, with a `Date` header) without calling the next handler.
 * Mount it before body parsers: for non-S3 services it reads the raw body and puts it back.
 *
 * @example app.use('/s3', sigv4Auth({ auth, keyring, service: 's3', region: 'us-east-1' }));
 */
export function sigv4Auth(options: ExpressSigV4AuthOptions): RequestHandler {
  const { verifier, protocol, bodyLimit } = prepareSigV4Auth(options);
  return function sigv4(req: Request, res: Response, next: NextFunction): void {
    verifyNodeRequest(verifier, req, { rawPath: req.originalUrl, bodyLimit }).then((result) => {
      if (!result.ok) {
        const answer = sigv4ErrorResponse(result.error, {
          protocol,
          method: req.method,
          resource: req.originalUrl.split('?')[0],
        });
        res.status(answer.status).set(answer.headers).send(answer.body);
        return;
      }
      req.sigv4 = result;
      const auth: RequestAuth = { ...result.principal, path: 'sigv4' };
      req.auth = auth;
      next();
    }, next);
  };
}
