import type { IncomingMessage } from 'node:http';
import { defaultTokenKinds, type TokenKinds } from '@authcache/core';

/** The subprotocol a browser offers in front of its token: `Sec-WebSocket-Protocol: bearer, <token>`. */
export const BEARER_PROTOCOL = 'bearer';

/** The `handleProtocols` hook of a `ws` `WebSocketServer`. */
export type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false;

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

/** A JWT's shape: `eyJ` (base64url of `{"`), then three base64url parts separated by dots. */
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/**
 * Whether a subprotocol offer looks like a credential: it starts with the prefix of a token
 * kind (`mul_`, `mdt_`, …) or has a JWT's shape. Such an offer is never answered.
 */
export function looksLikeCredential(
  value: string,
  tokenKinds: TokenKinds = defaultTokenKinds,
): boolean {
  for (const spec of Object.values(tokenKinds)) {
    if (value.startsWith(spec.prefix)) return true;
  }
  return JWT_SHAPE.test(value);
}

/** Options of {@link selectBearerProtocol}. */
export interface ProtocolSelectionOptions {
  /**
   * Subprotocols the app speaks (besides `bearer`). When `inner` picks none, the answer is the
   * client's first offer found here. Default: none, so only `bearer` is ever answered.
   */
  protocols?: readonly string[];
  /** Token kinds whose prefixes mark an offer as a credential. Default: `defaultTokenKinds`. */
  tokenKinds?: TokenKinds;
}

/**
 * A `handleProtocols` for `ws` that never echoes a credential. The candidates are the client's
 * offers minus `bearer`, minus the value that follows `bearer` (the token), minus anything that
 * {@link looksLikeCredential} (a token offered without `bearer`). `inner` (the app's own hook)
 * picks among the candidates, or else the first candidate listed in `protocols`; with neither,
 * the answer is `bearer` when it was offered, and no subprotocol otherwise (a client that
 * insisted on one then fails the handshake, as RFC 6455 wants). A value that is not a
 * candidate is never answered, whatever `inner` returns.
 */
export function selectBearerProtocol(
  inner?: HandleProtocols | null,
  options: ProtocolSelectionOptions = {},
): HandleProtocols {
  const allowed = new Set(options.protocols ?? []);
  const tokenKinds = options.tokenKinds ?? defaultTokenKinds;
  return (protocols, request) => {
    const ordered = [...protocols];
    const offeredBearer = protocols.has(BEARER_PROTOCOL);
    const token = offeredBearer ? protocolToken(ordered) : undefined;
    const candidates = new Set(
      ordered.filter(
        (p) => p !== BEARER_PROTOCOL && p !== token && !looksLikeCredential(p, tokenKinds),
      ),
    );
    if (candidates.size > 0) {
      const picked = inner ? inner(new Set(candidates), request) : false;
      if (picked && candidates.has(picked)) return picked;
      for (const candidate of candidates) if (allowed.has(candidate)) return candidate;
    }
    return offeredBearer ? BEARER_PROTOCOL : false;
  };
}
