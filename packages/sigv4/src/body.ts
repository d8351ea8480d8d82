import { createHash, timingSafeEqual } from 'node:crypto';
import { Transform } from 'node:stream';
import { EMPTY_SHA256, sha256Hex } from './canonical.js';
import { type Checksum, type ChecksumAlgorithm, createChecksum } from './checksums.js';
import { SigV4Error } from './errors.js';
import { hmacSha256 } from './signing-key.js';

/**
 * Checks a request body against what its signature promised, as the body streams in. Feed it the
 * raw bytes; it hands back the decoded bytes that may be used. Every method throws a
 * {@link SigV4Error} when the body does not match; after a throw the verifier is unusable.
 */
export interface BodyVerifier {
  /** Takes raw body bytes, returns decoded bytes ready to use (possibly none yet). */
  update(chunk: Uint8Array): Uint8Array[];
  /** Call at the end of the raw body. Returns the last decoded bytes, or throws. */
  final(): Uint8Array[];
}

/** A verifier for bodies that were not signed (`UNSIGNED-PAYLOAD`) or already checked. */
export function passThroughBody(): BodyVerifier {
  return { update: (chunk) => [chunk], final: () => [] };
}

/**
 * Hashes the body and compares it with the signed `x-amz-content-sha256` at the end. The bytes
 * pass through at once: a consumer must not commit them before {@link BodyVerifier.final} succeeded.
 */
export function sha256CheckedBody(expectedHex: string): BodyVerifier {
  const hash = createHash('sha256');
  const expected = expectedHex.toLowerCase();
  return {
    update(chunk) {
      hash.update(chunk);
      return [chunk];
    },
    final() {
      if (hash.digest('hex') !== expected) throw new SigV4Error('XAmzContentSHA256Mismatch');
      return [];
    },
  };
}

/** What the chunk signatures chain from. Only used for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD*`. */
export interface ChunkSigningContext {
  readonly signingKey: Uint8Array;
  readonly amzDate: string;
  readonly scope: string;
  /** The signature of the request itself. */
  readonly seedSignature: string;
}

/** Options of {@link createAwsChunkedDecoder}. */
export interface AwsChunkedOptions {
  /** Chunk signatures are present and verified (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD*`). */
  readonly signing?: ChunkSigningContext;
  /** A trailer section follows the final chunk (`…-TRAILER` modes). */
  readonly trailer: boolean;
  /** `x-amz-decoded-content-length`: the decoded body must be exactly this long. */
  readonly decodedContentLength: number;
  /**
   * Lower-cased names announced in `x-amz-trailer`; each must arrive in the trailer. Checksum
   * trailers (`x-amz-checksum-<algorithm>`) are verified against the decoded body.
   */
  readonly trailerNames: readonly string[];
  /**
   * Largest accepted chunk, in bytes. A signed chunk is held in memory until its signature is
   * checked, so this bounds memory per request. Default: `16 MiB`.
   */
  readonly maxChunkSize?: number;
}

const CRLF = Buffer.from('\r\n');
const MAX_LINE = 8 * 1024;
const MAX_TRAILERS = 16;
const SIGNED_SIZE_LINE = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/;
const UNSIGNED_SIZE_LINE = /^([0-9a-fA-F]{1,16})$/;
const TRAILER_LINE = /^([A-Za-z0-9-]{1,128}):(.*)$/;

type State = 'size' | 'data' | 'data-end' | 'final-line' | 'trailer' | 'done';

function malformed(message: string): SigV4Error {
  return new SigV4Error('InvalidRequest', `Malformed aws-chunked body: ${message}`);
}

function signaturesEqual(expected: Buffer, providedHex: string): boolean {
  const provided = Buffer.from(providedHex, 'hex');
  return provided.length === expected.length && timingSafeEqual(provided, expected);
}

/**
 * A streaming decoder of `Content-Encoding: aws-chunked` bodies. With `signing`, every chunk's
 * signature is verified (chained from the request signature, final empty chunk included) before
 * its bytes are released; with `trailer`, the trailing checksums (and, when signed, the trailer
 * signature) are checked at the end. Without `signing` (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`)
 * the bytes are released at once and only the checksum trailer vouches for them.
 */
export function createAwsChunkedDecoder(options: AwsChunkedOptions): BodyVerifier {
  const { signing, trailer, decodedContentLength } = options;
  const maxChunkSize = options.maxChunkSize ?? 16 * 1024 * 1024;
  const checksums = new Map<string, Checksum>();
  for (const name of options.trailerNames) {
    if (name.startsWith('x-amz-checksum-')) {
      checksums.set(
        name,
        createChecksum(name.slice('x-amz-checksum-'.length) as ChecksumAlgorithm),
      );
    }
  }
  let state: State = 'size';
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0;
  let chunkSignature = '';
  let chunkParts: Buffer[] = [];
  let chunkHash = createHash('sha256');
  let previousSignature = signing?.seedSignature ?? '';
  let decoded = 0;
  const trailers: Array<[string, string]> = [];

  function chunkStringToSign(dataHash: string): string {
    return `AWS4-HMAC-SHA256-PAYLOAD\n${signing!.amzDate}\n${signing!.scope}\n${previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
  }

  function verifyChunk(dataHash: string): void {
    const expected = hmacSha256(signing!.signingKey, chunkStringToSign(dataHash));
    if (!signaturesEqual(expected, chunkSignature)) {
      throw new SigV4Error(
        'SignatureDoesNotMatch',
        'The chunk signature we calculated does not match the signature you provided.',
      );
    }
    previousSignature = chunkSignature;
  }

  function readLine(): string | null {
    const end = pending.indexOf(CRLF);
    if (end === -1) {
      if (pending.length > MAX_LINE) throw malformed('line too long');
      return null;
    }
    if (end > MAX_LINE) throw malformed('line too long');
    const line = pending.subarray(0, end).toString('latin1');
    pending = pending.subarray(end + 2);
    return line;
  }

  function release(out: Uint8Array[], parts: readonly Buffer[]): void {
    for (const part of parts) {
      for (const checksum of checksums.values()) checksum.update(part);
      out.push(part);
    }
  }

  function finishTrailers(): void {
    let canonical = '';
    let trailerSignature: string | undefined;
    const seen = new Map<string, string>();
    for (const [name, value] of trailers) {
      if (name === 'x-amz-trailer-signature') {
        trailerSignature = value.trim();
        continue;
      }
      if (seen.has(name)) throw malformed(`trailer ${name} repeated`);
      seen.set(name, value.trim());
      canonical += `${name}:${value.trim()}\n`;
    }
    if (signing) {
      if (trailerSignature === undefined || !/^[0-9a-f]{64}$/.test(trailerSignature)) {
        throw malformed('missing x-amz-trailer-signature');
      }
      const stringToSign = `AWS4-HMAC-SHA256-TRAILER\n${signing.amzDate}\n${signing.scope}\n${previousSignature}\n${sha256Hex(canonical)}`;
      if (!signaturesEqual(hmacSha256(signing.signingKey, stringToSign), trailerSignature)) {
        throw new SigV4Error(
          'SignatureDoesNotMatch',
          'The trailer signature we calculated does not match the signature you provided.',
        );
      }
    }
    for (const name of options.trailerNames) {
      if (!seen.has(name))
        throw new SigV4Error('IncompleteBody', `The trailer ${name} is missing.`);
    }
    for (const name of seen.keys()) {
      if (!options.trailerNames.includes(name))
        throw malformed(`trailer ${name} was not announced`);
    }
    for (const [name, checksum] of checksums) {
      if (checksum.digestBase64() !== seen.get(name)) {
        throw new SigV4Error(
          'BadDigest',
          `The ${name.slice('x-amz-checksum-'.length).toUpperCase()} you specified did not match the calculated checksum.`,
        );
      }
    }
  }

  function finishChunks(): void {
    if (decoded !== decodedContentLength) {
      throw new SigV4Error(
        'IncompleteBody',
        'The decoded body is shorter than x-amz-decoded-content-length.',
      );
    }
  }

  function step(out: Uint8Array[]): boolean {
    switch (state) {
      case 'size': {
        const line = readLine();
        if (line === null) return false;
        const match = (signing ? SIGNED_SIZE_LINE : UNSIGNED_SIZE_LINE).exec(line);
        if (!match) throw malformed('bad chunk header');
        const size = Number.parseInt(match[1]!, 16);
        if (size > maxChunkSize) throw new SigV4Error('InvalidRequest', 'Chunk too large.');
        if (decoded + size > decodedContentLength) {
          throw new SigV4Error(
            'InvalidRequest',
            'The decoded body is longer than x-amz-decoded-content-length.',
          );
        }
        chunkSignature = match[2] ?? '';
        if (size === 0) {
          if (signing) verifyChunk(EMPTY_SHA256);
          finishChunks();
          state = trailer ? 'trailer' : 'final-line';
          return true;
        }
        remaining = size;
        chunkParts = [];
        chunkHash = createHash('sha256');
        state = 'data';
        return true;
      }
      case 'data': {
        if (pending.length === 0) return false;
        const take = Math.min(remaining, pending.length);
        const part = pending.subarray(0, take);
        pending = pending.subarray(take);
        remaining -= take;
        decoded += take;
        if (signing) {
          chunkHash.update(part);
          chunkParts.push(part);
        } else release(out, [part]);
        if (remaining === 0) state = 'data-end';
        return true;
      }
      case 'data-end': {
        if (pending.length < 2) return false;
        if (pending[0] !== 0x0d || pending[1] !== 0x0a)
          throw malformed('chunk not followed by CRLF');
        pending = pending.subarray(2);
        if (signing) {
          verifyChunk(chunkHash.digest('hex'));
          release(out, chunkParts);
          chunkParts = [];
        }
        state = 'size';
        return true;
      }
      case 'final-line': {
        const line = readLine();
        if (line === null) return false;
        if (line !== '') throw malformed('data after the final chunk');
        state = 'done';
        return true;
      }
      case 'trailer': {
        const line = readLine();
        if (line === null) return false;
        if (line === '') {
          finishTrailers();
          state = 'done';
          return true;
        }
        const match = TRAILER_LINE.exec(line);
        if (!match) throw malformed('bad trailer line');
        if (trailers.length >= MAX_TRAILERS) throw malformed('too many trailers');
        trailers.push([match[1]!.toLowerCase(), match[2]!]);
        return true;
      }
      case 'done':
        if (pending.length > 0) throw malformed('data after the end of the body');
        return false;
    }
  }

  let failed: SigV4Error | undefined;
  const guard = <T>(run: () => T): T => {
    if (failed) throw failed;
    try {
      return run();
    } catch (error) {
      failed = error instanceof SigV4Error ? error : malformed('unreadable');
      throw failed;
    }
  };

  return {
    update(chunk) {
      return guard(() => {
        const out: Uint8Array[] = [];
        pending =
          pending.length === 0
            ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
            : Buffer.concat([pending, chunk]);
        while (step(out)) {}
        return out;
      });
    },
    final() {
      return guard(() => {
        const out: Uint8Array[] = [];
        while (step(out)) {}
        // Some clients end the trailer section without the closing empty line.
        if (state === 'trailer' && pending.length === 0 && trailers.length > 0) {
          finishTrailers();
          state = 'done';
        }
        if (state !== 'done') throw new SigV4Error('IncompleteBody');
        return out;
      });
    },
  };
}

/**
 * Wraps a {@link BodyVerifier} as a node Transform: raw body in, verified decoded body out. The
 * stream errors with the {@link SigV4Error} to answer when the body does not match its signature.
 */
export function bodyVerifierStream(verifier: BodyVerifier): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        for (const part of verifier.update(chunk)) this.push(part);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        for (const part of verifier.final()) this.push(part);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
