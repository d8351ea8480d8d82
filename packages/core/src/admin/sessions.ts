/**
 * Console sessions and their CSRF tokens. A session id is 32 random bytes in an HttpOnly,
 * SameSite=Strict cookie; the server maps it, in memory, to the kind and hash of the credential
 * the admin logged in with (never the token). Every request re-resolves that hash through the
 * auth cache, so revoking the admin's token ends the session. The CSRF token is an HMAC, under
 * a key made at start-up, of the session id and the credential's hash: bound to both, useless
 * anywhere else, and never the credential itself.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export const SESSION_COOKIE = 'authcache_admin';

export interface Session {
  readonly id: string;
  readonly kind: string;
  readonly tokenHash: string;
  readonly createdAt: number;
  lastSeen: number;
}

export interface SessionsOptions {
  idleMs: number;
  maxAgeMs: number;
  max: number;
  clock: () => number;
}

export interface Sessions {
  create(kind: string, tokenHash: string): Session;
  /** The live session of this id, touched; `undefined` when unknown, idle or too old. */
  get(id: string | undefined): Session | undefined;
  drop(id: string): void;
  csrfToken(session: Session): string;
  /** Constant-time check of a CSRF token against the session's. */
  checkCsrf(session: Session, given: string | undefined): boolean;
}

export function createSessions(options: SessionsOptions): Sessions {
  const { idleMs, maxAgeMs, clock } = options;
  const key = randomBytes(32);
  const sessions = new LRUCache<string, Session>({ max: options.max });
  const mac = (session: Session) =>
    createHmac('sha256', key).update(`${session.id}\n${session.tokenHash}`).digest();

  return {
    create(kind, tokenHash) {
      const now = clock();
      const session: Session = {
        id: randomBytes(32).toString('base64url'),
        kind,
        tokenHash,
        createdAt: now,
        lastSeen: now,
      };
      sessions.set(session.id, session);
      return session;
    },
    get(id) {
      if (!id) return undefined;
      const session = sessions.get(id);
      if (!session) return undefined;
      const now = clock();
      if (now - session.lastSeen >= idleMs || now - session.createdAt >= maxAgeMs) {
        sessions.delete(id);
        return undefined;
      }
      session.lastSeen = now;
      return session;
    },
    drop(id) {
      sessions.delete(id);
    },
    csrfToken: (session) => mac(session).toString('base64url'),
    checkCsrf(session, given) {
      if (typeof given !== 'string' || given.length > 100) return false;
      const expected = mac(session);
      const actual = Buffer.from(given, 'base64url');
      return actual.length === expected.length && timingSafeEqual(actual, expected);
    },
  };
}

/** The value of one cookie in a `Cookie` header, or `undefined`. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The `Set-Cookie` of a session (`maxAgeMs` 0 clears it). */
export function sessionCookie(value: string, path: string, secure: boolean, maxAgeMs: number) {
  const attributes = [
    `${SESSION_COOKIE}=${value}`,
    `Path=${path || '/'}`,
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.floor(maxAgeMs / 1000)}`,
  ];
  if (secure) attributes.push('Secure');
  return attributes.join('; ');
}
