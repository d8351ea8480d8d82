import type { BodyVerifier } from './body.js';
import type { SigV4Success } from './verify-types.js';

/**
 * Wraps a {@link BodyVerifier} as a web `TransformStream`: raw body in, verified decoded body out.
 * The readable side errors with the `SigV4Error` to answer when the body does not match.
 */
export function bodyVerifierTransform(
  verifier: BodyVerifier,
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (const part of verifier.update(chunk)) controller.enqueue(part);
    },
    flush(controller) {
      for (const part of verifier.final()) controller.enqueue(part);
    },
  });
}

/**
 * The body of a web `Request` (fetch API, Hono, Bun, Deno) as the signature vouches for it: an
 * aws-chunked body decoded and verified, a signed SHA-256 checked at the end. `null` is an empty body.
 */
export function verifiedWebBody(
  body: ReadableStream<Uint8Array> | null,
  result: SigV4Success<unknown>,
): ReadableStream<Uint8Array> {
  const source =
    body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  return source.pipeThrough(bodyVerifierTransform(result.createBodyVerifier()));
}
