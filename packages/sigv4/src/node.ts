import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { bodyVerifierStream } from './body.js';
import { SigV4Error, type SigV4ErrorResponseOptions, sigv4ErrorResponse } from './errors.js';
import type { SigV4Request, SigV4Success } from './verify.js';

/**
 * Describes a node `IncomingMessage` for the verifier: `req.url` as the raw target and
 * `req.rawHeaders`, which keeps repeated headers apart (never `req.headers`, which joins them).
 * Pass `body` for services other than S3, which sign the body's hash.
 */
export function sigv4RequestFromNode(req: IncomingMessage, body?: Uint8Array): SigV4Request {
  return {
    method: req.method ?? 'GET',
    rawPath: req.url ?? '/',
    headers: req.rawHeaders,
    ...(body !== undefined ? { body } : {}),
  };
}

/**
 * Reads a whole body, refusing more than `limit` bytes (default 1 MiB) with a `SigV4Error`
 * (`InvalidRequest`), so an unauthenticated client cannot make the server buffer without bound.
 */
export async function readNodeBody(req: Readable, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new SigV4Error('InvalidRequest', 'The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The request body as the signature vouches for it: an aws-chunked body decoded and verified chunk
 * by chunk, a `x-amz-content-sha256` checked at the end. The stream errors with a `SigV4Error`.
 */
export function verifiedNodeBody(req: Readable, result: SigV4Success<unknown>): Readable {
  const verified = bodyVerifierStream(result.createBodyVerifier());
  // pipeline() destroys `verified` with the request's error, so readers see every failure.
  pipeline(req, verified, () => {});
  return verified;
}

/** Sends `error` the way AWS would (status, `Date`, XML or JSON body). */
export function writeSigV4Error(
  res: ServerResponse,
  error: unknown,
  options: SigV4ErrorResponseOptions = {},
): void {
  const response = sigv4ErrorResponse(error, options);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(response.status, {
    ...response.headers,
    'content-length': Buffer.byteLength(response.body),
  });
  res.end(response.body);
}
