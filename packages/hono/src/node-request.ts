/**
 * Reading `Authorization` on `@hono/node-server` without building a `Headers` object.
 *
 * On node-server, `c.req.raw` is a lazy `Request`: its `headers` are made on first access (≈ 1 µs
 * per request, measured in a node-server app: a `Headers`-like object, a copy of `rawHeaders`, a
 * regular expression on the name and one on the value), and for `authorization` they are read
 * from the node request's `rawHeaders`. When nothing has touched `c.req.raw.headers` yet, no
 * middleware can have changed them, so `rawHeaders` hold exactly what `c.req.header()` would
 * return, and reading them directly costs one pass over a few strings.
 *
 * Whether `headers` were touched is node-server's own state, kept under module-private symbols.
 * The probe learns them from one request at run time and fails closed: unless it is sure (one
 * symbol holding the node request, exactly one new symbol holding the `headers` that the first
 * read made), it gives up and every request takes the ordinary `c.req.header()` path. A request
 * replaced by a middleware (`c.req.raw = new Request(…)`) does not hold the node request and
 * takes the ordinary path too.
 */
import type { NodeHeaderSource } from '@authcache/core';

/** Requests the probe may look at before it gives up on learning. */
const LEARNING_ATTEMPTS = 16;

type Keyed = Record<symbol, unknown>;

export interface NodeRequestProbe {
  /**
   * Whether `raw` is node-server's own request for `incoming` and its `headers` were never made:
   * then `incoming.rawHeaders` are what `c.req.header()` reads. `false` whenever unsure.
   */
  untouched(raw: object, incoming: NodeHeaderSource): boolean;
  /**
   * Reads the header through `read` (which must access `raw.headers`), learning node-server's
   * keys from it while the probe is still learning. Returns what `read` returns.
   */
  learnFrom<T>(raw: object, incoming: NodeHeaderSource, read: () => T): T;
}

export function createNodeRequestProbe(): NodeRequestProbe {
  let incomingKey: symbol | undefined;
  let headersKey: symbol | undefined;
  let attempts = 0;

  return {
    untouched(raw, incoming) {
      if (headersKey === undefined) return false;
      const keyed = raw as Keyed;
      return keyed[incomingKey!] === incoming && keyed[headersKey] === undefined;
    },
    learnFrom(raw, incoming, read) {
      if (headersKey !== undefined || attempts >= LEARNING_ATTEMPTS) return read();
      attempts++;
      const before = Object.getOwnPropertySymbols(raw);
      const value = read();
      const keyed = raw as Keyed;
      const holdsIncoming = before.filter((key) => keyed[key] === incoming);
      const added = Object.getOwnPropertySymbols(raw).filter((key) => !before.includes(key));
      const proto: unknown = Object.getPrototypeOf(raw);
      const getter =
        proto !== null && typeof proto === 'object'
          ? Object.getOwnPropertyDescriptor(proto, 'headers')?.get
          : undefined;
      if (
        holdsIncoming.length === 1 &&
        added.length === 1 &&
        getter !== undefined &&
        Array.isArray(incoming.rawHeaders) &&
        keyed[added[0]!] !== undefined &&
        keyed[added[0]!] === (raw as { headers?: unknown }).headers
      ) {
        incomingKey = holdsIncoming[0];
        headersKey = added[0];
      }
      return value;
    },
  };
}
