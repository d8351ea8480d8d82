/**
 * The admin API and console, framework-neutral: `createAdminHandler(options)` answers one
 * {@link AdminRequest} with one {@link AdminResponse}. Every adapter's `adminRouter` only moves
 * values in and out of its framework.
 *
 * Routes (below the mount point): `GET /` the console, `GET /console.js` and `/console.css` its
 * assets, `GET|POST /session` and `POST /logout` the console's login, `GET /metrics`,
 * `GET /metrics/prometheus`, `POST /invalidate`, `GET /audit`.
 */
import { hostname } from 'node:os';
import { extractBearer } from '../http-credentials.js';
import { parseInvalidationScope, scopeSelectors } from '../scopes.js';
import type { Identity, ResolveResult } from '../types.js';
import { readJsonBody } from './body.js';
import { CONSOLE_CSS, CONSOLE_ICON, CONSOLE_JS, consoleHtml } from './console-assets.js';
import {
  createSessions,
  readCookie,
  SESSION_COOKIE,
  type Session,
  sessionCookie,
} from './sessions.js';
import type { AdminAuditEntry, AdminOptions, AdminRequest, AdminResponse } from './types.js';

export type {
  AdminAuditEntry,
  AdminAuthorizeRequest,
  AdminOptions,
  AdminRequest,
  AdminResponse,
  PrometheusSource,
} from './types.js';

/** Every answer's security headers: nothing is cached, framed, sniffed or loaded from elsewhere. */
export const ADMIN_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': ADMIN_CSP,
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
});

/** Answers one admin request. */
export type AdminHandler = ((request: AdminRequest) => Promise<AdminResponse>) & {
  /** The most recent audit entries, newest first. */
  recentAudit(): readonly AdminAuditEntry[];
};

function respond(
  status: number,
  body: string,
  type: string,
  extra: Record<string, string> = {},
): AdminResponse {
  return { status, headers: { ...SECURITY_HEADERS, 'content-type': type, ...extra }, body };
}

const json = (status: number, value: unknown, extra?: Record<string, string>) =>
  respond(status, JSON.stringify(value), 'application/json; charset=utf-8', extra);

const error = (status: number, message: string, extra?: Record<string, string>) =>
  json(status, { error: message }, extra);

function header(request: AdminRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value as string | undefined);
}

/** Who is calling, or the answer that refuses them. */
type Caller =
  | { ok: true; identity: Identity; via: 'bearer' | 'session'; session?: Session }
  | { ok: false; response: AdminResponse };

const UNAUTHORIZED = () =>
  error(401, 'a credential is required', { 'www-authenticate': 'Bearer realm="authcache-admin"' });

/** Creates the admin request handler. Throws on bad options. */
export function createAdminHandler(options: AdminOptions): AdminHandler {
  const { auth, authorize } = options;
  if (!auth) throw new TypeError('createAdminHandler: options.auth is required');
  if (typeof authorize !== 'function') {
    throw new TypeError('createAdminHandler: options.authorize is required (who is an admin?)');
  }
  const kinds = options.kinds ?? ['pat'];
  const clock = options.clock ?? Date.now;
  const instance = options.instanceId ?? `${hostname()}:${process.pid}`;
  const maxBodyBytes = options.maxBodyBytes ?? 16_384;
  const historySize = options.auditHistory ?? 50;
  const sessionIdleMs = options.sessionIdleMs ?? 1_800_000;
  const sessionMaxAgeMs = options.sessionMaxAgeMs ?? 43_200_000;
  const audit =
    options.audit ??
    ((entry: AdminAuditEntry) => console.info(`authcache admin audit ${JSON.stringify(entry)}`));
  const sessions = createSessions({
    idleMs: sessionIdleMs,
    maxAgeMs: sessionMaxAgeMs,
    max: options.maxSessions ?? 1_000,
    clock,
  });
  const history: AdminAuditEntry[] = [];

  /** A failed resolve: 503 when the store could not be asked (never a 401), else 401. */
  function refused(result: Extract<ResolveResult, { ok: false }>): AdminResponse {
    if (result.reason === 'unavailable') {
      return error(503, 'the token store is unavailable', { 'retry-after': '1' });
    }
    return UNAUTHORIZED();
  }

  async function allowed(identity: Identity, request: AdminRequest, via: 'bearer' | 'session') {
    try {
      return (
        (await authorize(identity, { method: request.method, path: request.path, via })) === true
      );
    } catch {
      return false;
    }
  }

  async function caller(request: AdminRequest): Promise<Caller> {
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const credential = extractBearer(authorization);
      if (!credential.ok) return { ok: false, response: UNAUTHORIZED() };
      const result = await auth.resolve(kinds, credential.token);
      if (!result.ok) return { ok: false, response: refused(result) };
      if (!(await allowed(result.identity, request, 'bearer'))) {
        return { ok: false, response: error(403, 'not an admin') };
      }
      return { ok: true, identity: result.identity, via: 'bearer' };
    }
    const session = sessions.get(readCookie(header(request, 'cookie'), SESSION_COOKIE));
    if (!session) return { ok: false, response: UNAUTHORIZED() };
    // The credential behind the session is resolved again: revoking it ends the session.
    const result = await auth.resolveHash(session.kind, session.tokenHash);
    if (!result.ok) {
      if (result.reason !== 'unavailable') sessions.drop(session.id);
      return { ok: false, response: refused(result) };
    }
    if (!(await allowed(result.identity, request, 'session'))) {
      return { ok: false, response: error(403, 'not an admin') };
    }
    return { ok: true, identity: result.identity, via: 'session', session };
  }

  /** A cookie-authenticated change must carry the session's CSRF token. */
  function csrfRefusal(request: AdminRequest, who: Caller & { ok: true }): AdminResponse | null {
    if (who.via !== 'session') return null;
    return sessions.checkCsrf(who.session!, header(request, 'x-csrf-token'))
      ? null
      : error(403, 'missing or wrong CSRF token (x-csrf-token)');
  }

  async function body(request: AdminRequest) {
    const read = await readJsonBody(request.headers, request.body, maxBodyBytes);
    if (read.ok) return read;
    if (read.reason === 'too_large') {
      return { ok: false as const, response: error(413, `the body is over ${maxBodyBytes} bytes`) };
    }
    if (read.reason === 'unsupported_type') {
      return { ok: false as const, response: error(415, 'the body must be application/json') };
    }
    return { ok: false as const, response: error(400, 'the body is not valid JSON') };
  }

  async function login(request: AdminRequest): Promise<AdminResponse> {
    const read = await body(request);
    if (!read.ok) return read.response;
    const token = (read.value as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token === '') {
      return error(400, '"token" is required: an admin token');
    }
    const result = await auth.resolve(kinds, token);
    if (!result.ok)
      return result.reason === 'unavailable' ? refused(result) : error(401, 'invalid token');
    if (!(await allowed(result.identity, request, 'session'))) return error(403, 'not an admin');
    const session = sessions.create(result.identity.kind, result.tokenHash);
    return json(
      200,
      { subject: result.identity.subject, csrf: sessions.csrfToken(session) },
      {
        'set-cookie': sessionCookie(
          session.id,
          request.base,
          request.secure === true,
          sessionMaxAgeMs,
        ),
      },
    );
  }

  async function invalidate(request: AdminRequest, who: Caller & { ok: true }) {
    const read = await body(request);
    if (!read.ok) return read.response;
    const parsed = parseInvalidationScope(read.value);
    if (!parsed.ok) return json(400, { error: parsed.message, field: parsed.field });
    if (parsed.scope.scope === 'all' && (read.value as { confirm?: unknown }).confirm !== true) {
      return json(400, { error: '"confirm": true is required for scope all', field: 'confirm' });
    }
    const result = await auth.invalidateScope(parsed.scope);
    const entry: AdminAuditEntry = Object.freeze({
      time: new Date(clock()).toISOString(),
      instance,
      admin: {
        subject: who.identity.subject,
        kind: who.identity.kind,
        tokenId: who.identity.tokenId,
      },
      via: who.via,
      scope: parsed.scope.scope,
      selectors: scopeSelectors(parsed.scope),
      outcome: {
        dropped: result.dropped,
        tierCleared: result.tierCleared,
        busesFailed: result.busesFailed,
      },
    });
    history.unshift(entry);
    if (history.length > historySize) history.length = historySize;
    try {
      await audit(entry);
    } catch (failure) {
      console.warn('authcache: the admin audit hook failed', { error: String(failure) });
    }
    return json(200, { ok: true, ...entry });
  }

  const handler = async (request: AdminRequest): Promise<AdminResponse> => {
    const method = request.method.toUpperCase();
    const path = request.path === '' ? '/' : request.path.replace(/\/+$/, '') || '/';
    const get = method === 'GET' || method === 'HEAD';
    // The console and its assets are static and hold no data: every number comes from the API.
    if (path === '/' && get)
      return respond(200, consoleHtml(request.base), 'text/html; charset=utf-8');
    if (path === '/console.js' && get)
      return respond(200, CONSOLE_JS, 'text/javascript; charset=utf-8');
    if (path === '/console.css' && get) return respond(200, CONSOLE_CSS, 'text/css; charset=utf-8');
    if (path === '/favicon.svg' && get) return respond(200, CONSOLE_ICON, 'image/svg+xml');
    if (path === '/session' && method === 'POST') return login(request);

    const routes: Record<string, string> = {
      '/session': 'GET',
      '/logout': 'POST',
      '/metrics': 'GET',
      '/metrics/prometheus': 'GET',
      '/invalidate': 'POST',
      '/audit': 'GET',
    };
    const expected = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (expected === undefined) return error(404, 'no such admin route');
    if (expected === 'GET' ? !get : method !== expected) {
      return error(405, 'method not allowed', {
        allow: path === '/session' ? 'GET, POST' : expected,
      });
    }
    const who = await caller(request);
    if (!who.ok) return who.response;
    if (expected === 'POST') {
      const refusal = csrfRefusal(request, who);
      if (refusal) return refusal;
    }
    switch (path) {
      case '/session':
        return json(200, {
          subject: who.identity.subject,
          csrf: who.session ? sessions.csrfToken(who.session) : undefined,
        });
      case '/logout':
        sessions.drop(who.session?.id ?? '');
        return json(
          200,
          { ok: true },
          {
            'set-cookie': sessionCookie('', request.base, request.secure === true, 0),
          },
        );
      case '/metrics':
        return json(200, { instance, time: new Date(clock()).toISOString(), stats: auth.stats() });
      case '/metrics/prometheus': {
        if (!options.prometheus) return error(404, 'no Prometheus registry is configured');
        const text = await options.prometheus.metrics();
        return respond(200, text, options.prometheus.contentType);
      }
      case '/audit':
        return json(200, { entries: history });
      default:
        return invalidate(request, who);
    }
  };
  return Object.assign(handler, { recentAudit: () => history.slice() });
}
