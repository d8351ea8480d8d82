/**
 * `adminRouter` for Hono: the admin API and console of `@authcache/core`
 * (`createAdminHandler`); this file only moves the request in and the answer out.
 */
import { type AdminHandler, type AdminOptions, createAdminHandler } from '@authcache/core';
import { Hono } from 'hono';

export type { AdminAuditEntry, AdminAuthorizeRequest, AdminOptions } from '@authcache/core';

/** The admin API and console: `app.route('/admin', adminRouter({ auth, authorize }))`. */
export function adminRouter(options: AdminOptions): Hono & { handler: AdminHandler } {
  const handle = createAdminHandler(options);
  const router = new Hono();
  router.all('*', async (c) => {
    // Mounted at /admin, the route is '/admin/*': what precedes '/*' is the mount point.
    const base = c.req.routePath.replace(/\/?\*$/, '');
    const raw = c.req.raw;
    const answer = await handle({
      method: raw.method,
      path: c.req.path.slice(base.length) || '/',
      base,
      headers: Object.fromEntries(raw.headers),
      body: raw.body as AsyncIterable<Uint8Array> | null,
      secure: new URL(raw.url).protocol === 'https:',
    });
    return new Response(raw.method === 'HEAD' ? null : answer.body, {
      status: answer.status,
      headers: answer.headers,
    });
  });
  return Object.assign(router, { handler: handle });
}
