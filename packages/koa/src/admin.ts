/**
 * `adminRouter` for Koa 3: the admin API and console of `@authcache/core`
 * (`createAdminHandler`); this file only moves the request in and the answer out.
 */
import { type AdminHandler, type AdminOptions, createAdminHandler } from '@authcache/core';
import type { Middleware } from 'koa';

export type { AdminAuditEntry, AdminAuthorizeRequest, AdminOptions } from '@authcache/core';

/** Options of the Koa `adminRouter`: {@link AdminOptions} plus where it is mounted. */
export interface KoaAdminOptions extends AdminOptions {
  /**
   * The path the router answers under (Koa has no mount points of its own): requests to it and
   * below are handled, every other request goes to the next middleware. Default: `'/admin'`.
   */
  prefix?: string;
}

/** The admin API and console: `app.use(adminRouter({ auth, authorize, prefix: '/admin' }))`. */
export function adminRouter(options: KoaAdminOptions): Middleware & { handler: AdminHandler } {
  const handle = createAdminHandler(options);
  const prefix = (options.prefix ?? '/admin').replace(/\/+$/, '');
  const middleware: Middleware = async (ctx, next) => {
    const { path } = ctx;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next();
    const parsed = (ctx.request as { body?: unknown }).body;
    const answer = await handle({
      method: ctx.method,
      path: path.slice(prefix.length) || '/',
      base: prefix,
      headers: ctx.headers,
      body: parsed !== undefined ? (parsed as object) : ctx.req,
      secure: ctx.secure,
    });
    ctx.status = answer.status;
    // Headers first: Koa guesses a content type only when none is set.
    ctx.set(answer.headers);
    ctx.body = ctx.method === 'HEAD' ? null : answer.body;
  };
  return Object.assign(middleware, { handler: handle });
}
