import type { IncomingMessage } from 'node:http';

/** The subprotocol a browser offers in front of its token: `Sec-WebSocket-Protocol: bearer, <token>`. */
export const BEARER_PROTOCOL = 'bearer';

/**
 * The subprotocols a client offered, in order. A malformed list yields `[]`: ws rejects such
 * a handshake with 400 by itself.
 */
export function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string' || header === '') return [];
  return header.split(',').map((part) => part.trim());
}

/**
 * The token a browser put after `bearer` in `Sec-WebSocket-Protocol`. `undefined` when no
 * `bearer` entry was offered, `null` when `bearer` is not followed by anything.
 */
export function protocolToken(protocols: readonly string[]): string | null | undefined {
  const index = protocols.indexOf(BEARER_PROTOCOL);
  if (index === -1) return undefined;
  const token = protocols[index + 1];
  return token === undefined || token === '' ? null : token;
}

/**
 * A `handleProtocols` for `ws` that answers `bearer` whenever the client offered it, so the
 * token that follows it is never echoed. `inner` may pick one of the client's other
 * subprotocols instead (it never sees `bearer` nor the token); without `inner`, or when it
 * returns `false`, the answer is `bearer`. Without a `bearer` offer, `inner` decides alone
 * (default: the first offered protocol, as ws does).
 */
export function selectBearerProtocol(
  inner?: ((protocols: Set<string>, request: IncomingMessage) => string | false) | null,
): (protocols: Set<string>, request: IncomingMessage) => string | false {
  return (protocols, request) => {
    if (!protocols.has(BEARER_PROTOCOL)) {
      if (inner) return inner(protocols, request);
      const first = protocols.values().next();
      return first.done ? false : first.value;
    }
    const ordered = [...protocols];
    const token = protocolToken(ordered);
    const rest = new Set(ordered.filter((p) => p !== BEARER_PROTOCOL && p !== token));
    const picked = inner && rest.size > 0 ? inner(rest, request) : false;
    return picked && rest.has(picked) ? picked : BEARER_PROTOCOL;
  };
}
