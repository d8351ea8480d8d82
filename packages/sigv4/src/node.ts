import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { bodyVerifierStream } from './body.js';
import { SigV4Error, type SigV4ErrorResponseOptions, sigv4ErrorResponse } from './errors.js';
import type { SigV4Request, SigV4Result, SigV4Success, SigV4Verifier } from './verify-types.js';

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

/** The error for a body over its limit (`InvalidRequest`, 400). */
export function bodyTooLarge(): SigV4Error {
  return new SigV4Error('InvalidRequest', 'The request body is too large.');
}

/**
 * Reads a whole body — a node stream or a web `ReadableStream` (both are async iterables) —
 * counting bytes as they arrive and stopping at the first one past `limit` (default 1 MiB) with
 * {@link bodyTooLarge}, so an unauthenticated client cannot make the server buffer without bound,
 * whatever `Content-Length` it announced (or none, with chunked transfer encoding).
 */
export async function readNodeBody(
  source: AsyncIterable<Uint8Array>,
  limit = 1024 * 1024,
): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    // Leaving the loop cancels the stream: the rest of the body is never read.
    if (size > limit) throw bodyTooLarge();
    chunks.push(chunk);
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

/**
 * Reads the whole body of a node request and puts it back, so body parsers that run later
 * (express.json(), koa-bodyparser, …) still find it. Refuses more than `limit` bytes with a
 * `SigV4Error` (`InvalidRequest`). A body that was already consumed can only be given as `rawBody`
 * (e.g. captured by a body parser's `verify` hook); otherwise this throws a `TypeError`, since the
 * signature cannot be checked without the bytes.
 */
export function readAndRestoreNodeBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  if (req.readableEnded) {
    const raw = (req as IncomingMessage & { rawBody?: unknown }).rawBody;
    if (Buffer.isBuffer(raw)) return Promise.resolve(raw);
    return Promise.reject(
      new TypeError(
        'sigv4: the request body was consumed before SigV4 verification; mount the SigV4 middleware before body parsers, or store the raw bytes in req.rawBody',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: Error | undefined, body?: Buffer) => {
      req.off('readable', onReadable);
      req.off('error', finish);
      req.off('end', onEnd);
      if (error) reject(error);
      else resolve(body!);
    };
    // Only reached when the stream ends without a last 'readable' (an empty, already received
    // body); a non-empty body is always put back by onReadable before 'end' can be emitted.
    const onEnd = () => finish(undefined, Buffer.concat(chunks));
    const onReadable = () => {
      for (let chunk: Buffer | null = req.read(); chunk !== null; chunk = req.read()) {
        size += chunk.length;
        if (size > limit) {
          finish(bodyTooLarge());
          return;
        }
        chunks.push(chunk);
      }
      if (!req.complete) return;
      const body = Buffer.concat(chunks);
      // Put the bytes back before 'end' is emitted (it waits for an empty buffer), so the next
      // reader sees the body as if nobody had read it.
      if (body.length > 0) req.unshift(body);
      finish(undefined, body);
    };
    req.on('readable', onReadable);
    req.on('error', finish);
    req.on('end', onEnd);
  });
}

/** Options of {@link verifyNodeRequest}. */
export interface VerifyNodeRequestOptions {
  /** The raw request target. Default: `req.url` (use express's `req.originalUrl` under a router). */
  rawPath?: string;
  /** Largest body read for services that sign the body (not S3). Default: 1 MiB. */
  bodyLimit?: number;
}

/**
 * Verifies a node request. For services other than S3 the body is read (and put back for later
 * parsers) because its hash is signed; for S3 the body is left alone: read it through
 * {@link verifiedNodeBody}. Never throws for an auth outcome.
 */
export async function verifyNodeRequest<P>(
  verifier: SigV4Verifier<P>,
  req: IncomingMessage,
  options: VerifyNodeRequestOptions = {},
): Promise<SigV4Result<P>> {
  let body: Buffer | undefined;
  if (!verifier.s3) {
    try {
      body = await readAndRestoreNodeBody(req, options.bodyLimit);
    } catch (error) {
      if (error instanceof SigV4Error) return { ok: false, error };
      throw error;
    }
  }
  const request = sigv4RequestFromNode(req, body);
  return verifier.verify(
    options.rawPath === undefined ? request : { ...request, rawPath: options.rawPath },
  );
}
