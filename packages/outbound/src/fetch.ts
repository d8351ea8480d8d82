/**
 * `fetch` with a bearer token from a source: the header is added to every request, and a 401
 * from the upstream forces one refresh and one retry (a token revoked or rotated early).
 */
import type { TokenSource } from './source.js';

/** The `fetch` signature `fetchWithToken` wraps and returns. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of {@link fetchWithToken}. */
export interface FetchWithTokenOptions {
  /** The header to set. Default: `'authorization'`. */
  header?: string;
  /** Builds the header's value. Default: `` `Bearer ${token}` ``. */
  format?: (token: string) => string;
}

/**
 * Wraps `fetchImpl` (default: the global `fetch`) so that each request carries the source's
 * token. On a 401 the source is asked for a new token (`source.refresh(rejected)`: one fetch
 * however many requests were refused together) and the request is sent once more; a second 401
 * is returned as it is. A request whose body is a stream is retried too (its body is teed).
 */
export function fetchWithToken(
  source: TokenSource,
  fetchImpl: FetchLike = (input, init) => globalThis.fetch(input, init),
  options: FetchWithTokenOptions = {},
): FetchLike {
  const header = options.header ?? 'authorization';
  const format = options.format ?? ((token: string) => `Bearer ${token}`);
  return async (input, init) => {
    const request = new Request(input, init);
    const send = (token: string, from: Request) => {
      const headers = new Headers(from.headers);
      headers.set(header, format(token));
      return fetchImpl(new Request(from, { headers }));
    };
    const token = await source.get();
    // Keep an untouched copy of the body for the retry.
    const spare = request.body ? request.clone() : request;
    const response = await send(token, request);
    if (response.status !== 401) return response;
    let fresh: string;
    try {
      fresh = await source.refresh(token);
    } catch {
      return response; // no better token: the caller sees the upstream's answer
    }
    if (fresh === token) return response; // refreshed too recently: retrying would change nothing
    await response.body?.cancel().catch(() => {});
    return send(fresh, spare);
  };
}
