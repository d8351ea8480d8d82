/**
 * The admin router's table, run over real HTTP (fetch against a listening server) for every
 * adapter: the 200/400/401/403/404/405/413/415 answers, the console's session and CSRF rules,
 * and scope semantics (a subject invalidated through the API asks the store next time).
 */
import {
  type AdminAuditEntry,
  type AdminOptions,
  type AuthCache,
  createAuthCache,
  type PrometheusSource,
} from '@authcache/core';
import { createPgTokenStore, migrate, type PgTokenStore } from '@authcache/pg';
import { createEmbeddedDb, type EmbeddedDb } from '@authcache/pg/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, dropSchema, freshSchemaName, startProxy } from './postgres.js';

/** A server listening with the adapter's router mounted at `/admin`. */
export interface AdminServer {
  /** E.g. `http://127.0.0.1:1234/admin`. */
  readonly url: string;
  close(): Promise<void>;
}

export interface AdminHarness {
  readonly name: string;
  listen(options: AdminOptions): Promise<AdminServer>;
}

export interface AdminFixture {
  readonly db: EmbeddedDb;
  readonly store: PgTokenStore;
  readonly auth: AuthCache;
  readonly audit: AdminAuditEntry[];
  readonly tokens: {
    admin: { id: string; token: string };
    /** A second admin token, revoked by the session test. */
    adminToRevoke: { id: string; token: string };
    user: { id: string; token: string };
    victim: { id: string; token: string }[];
  };
  readonly prometheus: PrometheusSource;
  close(): Promise<void>;
}

export const ADMIN_SUBJECT = 'admin-1';
const PROM_TEXT =
  '# HELP authcache_hits_total Hits.\n# TYPE authcache_hits_total counter\nauthcache_hits_total 1\n';

export async function createAdminFixture(): Promise<AdminFixture> {
  const db = await createEmbeddedDb();
  await migrate(db);
  const store = createPgTokenStore({ db });
  const auth = createAuthCache({ store, logger: { warn() {} } });
  const admin = await store.createPat({ userId: ADMIN_SUBJECT, name: 'admin' });
  const adminToRevoke = await store.createPat({ userId: ADMIN_SUBJECT, name: 'admin 2' });
  const user = await store.createPat({ userId: 'user-1', name: 'user' });
  const victim = [
    await store.createPat({ userId: 'victim', name: 'v1' }),
    await store.createPat({ userId: 'victim', name: 'v2' }),
  ];
  return {
    db,
    store,
    auth,
    audit: [],
    tokens: { admin, adminToRevoke, user, victim },
    prometheus: {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      metrics: async () => PROM_TEXT,
    },
    async close() {
      await auth.close();
      await db.close();
    },
  };
}

/** The options every adapter is mounted with in the table (one with Prometheus, one without). */
export function adminOptions(fixture: AdminFixture, prometheus: boolean): AdminOptions {
  return {
    auth: fixture.auth,
    authorize: (identity) => identity.subject === ADMIN_SUBJECT,
    audit: (entry) => {
      fixture.audit.push(entry);
    },
    instanceId: 'test-instance',
    ...(prometheus ? { prometheus: fixture.prometheus } : {}),
  };
}

interface Row {
  name: string;
  method: string;
  path: string;
  /** `admin`, `user`, `unknown`, `garbage` or none. */
  as?: 'admin' | 'user' | 'unknown' | 'garbage';
  body?: string;
  contentType?: string;
  status: number;
  /** The `field` a 400 names. */
  field?: string;
  withoutPrometheus?: boolean;
}

const post = (name: string, body: unknown, status: number, field?: string): Row => ({
  name,
  method: 'POST',
  path: '/invalidate',
  as: 'admin',
  body: JSON.stringify(body),
  status,
  ...(field ? { field } : {}),
});

/** The table: one request each, expected status (and field). */
export const adminRows: readonly Row[] = [
  { name: 'metrics without a credential', method: 'GET', path: '/metrics', status: 401 },
  {
    name: 'metrics with an unknown token',
    method: 'GET',
    path: '/metrics',
    as: 'unknown',
    status: 401,
  },
  {
    name: 'metrics with a malformed header',
    method: 'GET',
    path: '/metrics',
    as: 'garbage',
    status: 401,
  },
  { name: 'metrics as a non-admin', method: 'GET', path: '/metrics', as: 'user', status: 403 },
  { name: 'metrics as an admin', method: 'GET', path: '/metrics', as: 'admin', status: 200 },
  {
    name: 'prometheus as an admin',
    method: 'GET',
    path: '/metrics/prometheus',
    as: 'admin',
    status: 200,
  },
  {
    name: 'prometheus as a non-admin',
    method: 'GET',
    path: '/metrics/prometheus',
    as: 'user',
    status: 403,
  },
  {
    name: 'prometheus without a registry',
    method: 'GET',
    path: '/metrics/prometheus',
    as: 'admin',
    status: 404,
    withoutPrometheus: true,
  },
  {
    name: 'invalidate without a credential',
    method: 'POST',
    path: '/invalidate',
    body: '{"scope":"all","confirm":true}',
    status: 401,
  },
  {
    name: 'invalidate as a non-admin',
    method: 'POST',
    path: '/invalidate',
    as: 'user',
    body: '{"scope":"all","confirm":true}',
    status: 403,
  },
  post('an unknown scope', { scope: 'everything' }, 400, 'scope'),
  post('no scope', { subject: 'x' }, 400, 'scope'),
  post('token without kind', { scope: 'token', id: '1' }, 400, 'kind'),
  post('token without id', { scope: 'token', kind: 'pat' }, 400, 'id'),
  post('subject without subject', { scope: 'subject' }, 400, 'subject'),
  post('subject not a string', { scope: 'subject', subject: 7 }, 400, 'subject'),
  post('kind without kind', { scope: 'kind' }, 400, 'kind'),
  post('access_key without id', { scope: 'access_key' }, 400, 'id'),
  post('all without confirm', { scope: 'all' }, 400, 'confirm'),
  post('all with confirm: "yes"', { scope: 'all', confirm: 'yes' }, 400, 'confirm'),
  post('token', { scope: 'token', kind: 'pat', id: '12345' }, 200),
  post('kind', { scope: 'kind', kind: 'daemon' }, 200),
  post('access_key', { scope: 'access_key', id: 'AKIAIOSFODNN7EXAMPLE' }, 200),
  post('all with confirm', { scope: 'all', confirm: true }, 200),
  {
    name: 'a body over 16 KiB',
    method: 'POST',
    path: '/invalidate',
    as: 'admin',
    body: JSON.stringify({ scope: 'subject', subject: 'x', pad: 'x'.repeat(20_000) }),
    status: 413,
  },
  {
    name: 'a body that is not JSON',
    method: 'POST',
    path: '/invalidate',
    as: 'admin',
    body: '{scope',
    status: 400,
  },
  {
    name: 'a form body',
    method: 'POST',
    path: '/invalidate',
    as: 'admin',
    body: 'scope=all&confirm=true',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
  },
  { name: 'GET on invalidate', method: 'GET', path: '/invalidate', as: 'admin', status: 405 },
  { name: 'an unknown route', method: 'GET', path: '/nope', as: 'admin', status: 404 },
];

function headersFor(row: Row, fixture: AdminFixture): Record<string, string> {
  const headers: Record<string, string> = {};
  if (row.body !== undefined) headers['content-type'] = row.contentType ?? 'application/json';
  const unknown = 'mul_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000';
  if (row.as === 'admin') headers.authorization = `Bearer ${fixture.tokens.admin.token}`;
  else if (row.as === 'user') headers.authorization = `Bearer ${fixture.tokens.user.token}`;
  else if (row.as === 'unknown') headers.authorization = `Bearer ${unknown}`;
  else if (row.as === 'garbage') headers.authorization = 'Basic Zm9vOmJhcg==';
  return headers;
}

/** Runs the admin table and the session and scope tests against one adapter. */
export function runAdminConformance(harness: AdminHarness): void {
  describe(`${harness.name}: admin router`, () => {
    let fixture: AdminFixture;
    let server: AdminServer;
    let bare: AdminServer;

    beforeAll(async () => {
      fixture = await createAdminFixture();
      server = await harness.listen(adminOptions(fixture, true));
      bare = await harness.listen(adminOptions(fixture, false));
    });
    afterAll(async () => {
      await server?.close();
      await bare?.close();
      await fixture?.close();
    });

    it.each(adminRows)('$name → $status', async (row) => {
      const base = row.withoutPrometheus ? bare.url : server.url;
      const res = await fetch(base + row.path, {
        method: row.method,
        headers: headersFor(row, fixture),
        ...(row.body !== undefined ? { body: row.body } : {}),
      });
      const text = await res.text();
      expect(res.status, text).toBe(row.status);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      if (row.status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      if (row.field) expect(JSON.parse(text)).toMatchObject({ field: row.field });
      if (row.field) expect(JSON.parse(text).error).toContain(`"${row.field}"`);
      if (row.path === '/metrics' && row.status === 200) {
        const body = JSON.parse(text);
        expect(body.instance).toBe('test-instance');
        expect(typeof body.stats.hits).toBe('number');
        expect(body.stats.invalidationsByScope).toBeTypeOf('object');
      }
      if (row.path === '/metrics/prometheus' && row.status === 200) {
        expect(res.headers.get('content-type')).toBe(fixture.prometheus.contentType);
        expect(text).toContain('# TYPE authcache_hits_total counter');
      }
      // No answer ever reflects a credential.
      for (const token of [fixture.tokens.admin.token, fixture.tokens.user.token]) {
        expect(text).not.toContain(token);
      }
    });

    it('a body over the cap sent without Content-Length (chunked) is refused with 413', async () => {
      const chunk = new TextEncoder().encode(`{"scope":"subject","subject":"${'x'.repeat(8_000)}`);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 4; i++) controller.enqueue(chunk);
          controller.close();
        },
      });
      const res = await fetch(`${server.url}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${fixture.tokens.admin.token}`,
          'content-type': 'application/json',
        },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
    });

    it('a subject invalidated through the API asks the store next time; the audit names the admin, not the token', async () => {
      const { auth, tokens } = fixture;
      for (const { token } of [...tokens.victim, tokens.user]) {
        expect((await auth.resolve('pat', token)).ok).toBe(true);
      }
      const before = auth.stats();
      const res = await fetch(`${server.url}/invalidate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.admin.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ scope: 'subject', subject: 'victim' }),
      });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({
        ok: true,
        scope: 'subject',
        selectors: { subject: 'victim' },
        admin: { subject: ADMIN_SUBJECT },
        instance: 'test-instance',
        outcome: { dropped: 2 },
      });
      for (const { token } of [...tokens.victim, tokens.user]) {
        expect((await auth.resolve('pat', token)).ok).toBe(true);
      }
      const after = auth.stats();
      expect(after.storeQueries - before.storeQueries).toBe(2);
      expect(after.invalidationsByScope.subject - before.invalidationsByScope.subject).toBe(1);
      const entry = fixture.audit.at(-1)!;
      expect(entry).toMatchObject({
        scope: 'subject',
        admin: { subject: ADMIN_SUBJECT },
        via: 'bearer',
      });
      expect(Date.parse(entry.time)).toBeGreaterThan(Date.now() - 60_000);
      const logged = JSON.stringify(fixture.audit);
      for (const credential of [tokens.admin.token, auth.hashToken(tokens.admin.token)]) {
        expect(logged).not.toContain(credential);
      }
      const recent = await fetch(`${server.url}/audit`, {
        headers: { authorization: `Bearer ${tokens.admin.token}` },
      });
      expect(((await recent.json()) as { entries: unknown[] }).entries[0]).toMatchObject({
        scope: 'subject',
      });
    });

    it('console session: HttpOnly SameSite=Strict cookie, CSRF required, dies with its token', async () => {
      const { tokens } = fixture;
      const login = (token: string) =>
        fetch(`${server.url}/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token }),
        });
      expect((await login(tokens.user.token)).status).toBe(403);
      expect((await login('mul_nope')).status).toBe(401);
      const res = await login(tokens.adminToRevoke.token);
      expect(res.status).toBe(200);
      const cookie = res.headers.get('set-cookie')!;
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).toMatch(/Path=\/admin/);
      expect(cookie).not.toContain(tokens.adminToRevoke.token);
      const { csrf, subject } = (await res.json()) as { csrf: string; subject: string };
      expect(subject).toBe(ADMIN_SUBJECT);
      const session = cookie.split(';')[0]!;
      const invalidate = (headers: Record<string, string>) =>
        fetch(`${server.url}/invalidate`, {
          method: 'POST',
          headers: { cookie: session, 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ scope: 'kind', kind: 'daemon' }),
        });
      expect((await invalidate({})).status).toBe(403);
      expect((await invalidate({ 'x-csrf-token': `${csrf.slice(0, -2)}AA` })).status).toBe(403);
      expect((await invalidate({ 'x-csrf-token': csrf })).status).toBe(200);
      expect(fixture.audit.at(-1)).toMatchObject({ via: 'session', scope: 'kind' });
      const metrics = await fetch(`${server.url}/metrics`, { headers: { cookie: session } });
      expect(metrics.status).toBe(200);
      // Revoking the token behind the session ends it.
      expect(await fixture.auth.revoke('pat', tokens.adminToRevoke.id)).toBe(true);
      const after = await fetch(`${server.url}/metrics`, { headers: { cookie: session } });
      expect(after.status).toBe(401);
    });

    it('a store that cannot be asked answers 503, never 401, for bearer and session alike', async () => {
      // Real Postgres behind a TCP proxy, cut once an admin token and its session exist.
      const proxy = await startProxy();
      const schema = freshSchemaName('admin_down');
      const pool = createPool({ connectionString: proxy.url, connectionTimeoutMillis: 1_000 });
      const down = await (async () => {
        await migrate(pool, { schema });
        const store = createPgTokenStore({ db: pool, schema });
        const admin = await store.createPat({ userId: ADMIN_SUBJECT, name: 'admin' });
        // ttl 0: every request asks the store, as a cold or just-expired entry would.
        const auth = createAuthCache({
          store,
          ttl: 0,
          storeTimeoutMs: 1_000,
          logger: { warn() {} },
        });
        return { auth, admin };
      })();
      const downServer = await harness.listen({
        auth: down.auth,
        authorize: (identity) => identity.subject === ADMIN_SUBJECT,
        audit: () => {},
      });
      try {
        const login = await fetch(`${downServer.url}/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ token: down.admin.token }),
        });
        expect(login.status).toBe(200);
        const session = login.headers.get('set-cookie')!.split(';')[0]!;
        proxy.cut();
        const bearer = await fetch(`${downServer.url}/metrics`, {
          headers: { authorization: `Bearer ${down.admin.token}` },
        });
        expect(bearer.status).toBe(503);
        expect(bearer.headers.get('retry-after')).toBe('1');
        const viaSession = await fetch(`${downServer.url}/metrics`, {
          headers: { cookie: session },
        });
        expect(viaSession.status).toBe(503);
      } finally {
        await downServer.close();
        await down.auth.close();
        await pool.end().catch(() => {});
        await proxy.close();
        await dropSchema(schema);
      }
    });

    it('serves the console and its assets under the strict CSP', async () => {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain('name="viewport"');
      expect(html).not.toMatch(/<script>|<style>| on\w+=/);
      expect(html).toContain('src="/admin/console.js"');
      const js = await fetch(`${server.url}/console.js`);
      expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(js.headers.get('content-security-policy')).toContain("script-src 'self'");
    });
  });
}
