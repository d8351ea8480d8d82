/**
 * Reading an admin request's JSON body with a cap: a declared `Content-Length` over the cap is
 * refused before reading, a stream is read only up to the cap, and an object a body parser
 * already made is taken as it is.
 */

/** Why a body could not be read. */
export type BodyFailure = 'too_large' | 'unsupported_type' | 'invalid_json';

export type BodyResult = { ok: true; value: unknown } | { ok: false; reason: BodyFailure };

function header(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  name: string,
) {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : (value as string | undefined);
}

function isStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function'
  );
}

/** Reads and parses a JSON body of at most `maxBytes` bytes. */
export async function readJsonBody(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  body: AsyncIterable<Uint8Array> | string | Uint8Array | object | null | undefined,
  maxBytes: number,
): Promise<BodyResult> {
  const length = Number(header(headers, 'content-length'));
  if (Number.isFinite(length) && length > maxBytes) return { ok: false, reason: 'too_large' };
  const type = (header(headers, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  // JSON only: a cross-site HTML form cannot send it without a CORS preflight.
  if (type !== 'application/json') return { ok: false, reason: 'unsupported_type' };
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array) text = Buffer.from(body).toString('utf8');
  else if (isStream(body)) {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of body) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > maxBytes) return { ok: false, reason: 'too_large' };
      chunks.push(bytes);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } else if (body && typeof body === 'object') {
    // Already parsed by a body parser mounted before the router.
    return { ok: true, value: body };
  } else text = '';
  if (Buffer.byteLength(text) > maxBytes) return { ok: false, reason: 'too_large' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'invalid_json' };
  }
}
