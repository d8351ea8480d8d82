/**
 * An `undici` dispatcher interceptor that adds a source's bearer token to every request and, on
 * a 401, forces one refresh and sends the request once more. `undici` (7) is an optional peer,
 * needed for its types only: the interceptor itself imports nothing from it.
 *
 *     const agent = new Agent().compose(bearerToken(source));
 *     await request('https://orders.internal/v1', { dispatcher: agent });
 */

import type { TokenSource } from '@authcache/outbound';
import type { Dispatcher } from 'undici';

/** Options of {@link bearerToken}. */
export interface BearerTokenInterceptorOptions {
  /** The header to set. Default: `'authorization'`. */
  header?: string;
  /** Builds the header's value. Default: `` `Bearer ${token}` ``. */
  format?: (token: string) => string;
}

type Headers = Dispatcher.DispatchOptions['headers'];
type Handler = Dispatcher.DispatchHandler;
type Controller = Dispatcher.DispatchController;

/** The request's headers as a plain object without `name` (any case), plus `name: value`. */
function withHeader(
  headers: Headers,
  name: string,
  value: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const add = (key: string, v: unknown) => {
    if (key.toLowerCase() === name || v === undefined || v === null) return;
    out[key] = Array.isArray(v) ? v.map(String) : String(v);
  };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [k, v] of headers as unknown as [string, string][]) add(k, v);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
    }
  } else if (headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [k, v] of headers as Iterable<[string, string]>) add(k, v);
  } else if (headers) {
    for (const [k, v] of Object.entries(headers)) add(k, v);
  }
  out[name] = value;
  return out;
}

/**
 * Holds back a 401 (status, headers, body) so that the request can be sent again; hands it to
 * the caller's handler as it was when there is nothing better to try.
 */
class Retry401Handler implements Handler {
  #held:
    | {
        controller: Controller;
        status: number;
        headers: Record<string, unknown>;
        message?: string;
        chunks: Buffer[];
      }
    | undefined;

  constructor(
    private readonly handler: Handler,
    private readonly retry: (replay: () => void) => void,
  ) {}

  onRequestStart(controller: Controller, context: unknown) {
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(...args: Parameters<NonNullable<Handler['onRequestUpgrade']>>) {
    this.handler.onRequestUpgrade?.(...args);
  }

  onResponseStart(
    controller: Controller,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ) {
    if (statusCode === 401) {
      this.#held = { controller, status: statusCode, headers, message: statusMessage, chunks: [] };
      return;
    }
    this.handler.onResponseStart?.(controller, statusCode, headers as never, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer) {
    if (this.#held) this.#held.chunks.push(chunk);
    else this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Controller, trailers: Record<string, string | string[] | undefined>) {
    const held = this.#held;
    if (!held) {
      this.handler.onResponseEnd?.(controller, trailers as never);
      return;
    }
    this.retry(() => {
      this.handler.onResponseStart?.(
        held.controller,
        held.status,
        held.headers as never,
        held.message,
      );
      for (const chunk of held.chunks) this.handler.onResponseData?.(held.controller, chunk);
      this.handler.onResponseEnd?.(held.controller, trailers as never);
    });
  }

  onResponseError(controller: Controller, error: Error) {
    this.handler.onResponseError?.(controller, error);
  }
}

/**
 * The interceptor: `new Agent().compose(bearerToken(source))`. The token comes from memory (a
 * request waits only while the source has no valid token); a 401 leads to
 * `source.refresh(rejected)` and one more attempt, unless the body is a stream (it cannot be
 * sent twice) or the source has nothing newer, in which case the 401 is answered as it came.
 * A source that cannot give a token fails the request with its typed error.
 */
export function bearerToken(
  source: TokenSource,
  options: BearerTokenInterceptorOptions = {},
): Dispatcher.DispatcherComposeInterceptor {
  const header = (options.header ?? 'authorization').toLowerCase();
  const format = options.format ?? ((token: string) => `Bearer ${token}`);
  return (dispatch) => (opts, handler) => {
    const body = opts.body;
    const replayable =
      body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    const send = (token: string, target: Handler) =>
      dispatch({ ...opts, headers: withHeader(opts.headers, header, format(token)) }, target);
    const fail = (error: unknown) => handler.onResponseError?.(null as never, error as Error);
    source.get().then((token) => {
      if (!replayable) return void send(token, handler);
      const retrying = new Retry401Handler(handler, (replay) => {
        source.refresh(token).then(
          (fresh) => (fresh === token ? replay() : void send(fresh, handler)),
          () => replay(),
        );
      });
      send(token, retrying);
    }, fail);
    return true;
  };
}
