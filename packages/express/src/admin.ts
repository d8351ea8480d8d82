/**
 * `adminRouter` for Express 5: the admin API and console of `@authcache/core`
 * (`createAdminHandler`); this file only moves the request in and the answer out.
 */
import { type AdminHandler, type AdminOptions, createAdminHandler } from '@authcache/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export type { AdminAuditEntry, AdminAuthorizeRequest, AdminOptions } from '@authcache/core';

/**
 * The admin API and console, mounted with `app.use('/admin', adminRouter({ auth, authorize }))`.
 * Mount it before any body parser (it reads and caps its own JSON bodies). See docs/admin.md.
 */
export function adminRouter(options: AdminOptions): RequestHandler & { handler: AdminHandler } {
  const handle = createAdminHandler(options);
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    handle({
      method: req.method,
      path: req.path,
      base: req.baseUrl,
      headers: req.headers,
      // A body parser mounted earlier already read the stream: take what it made.
      body: req.body !== undefined ? (req.body as object) : req,
      secure: req.secure,
    }).then((answer) => {
      res.status(answer.status);
      for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
      res.end(req.method === 'HEAD' ? undefined : answer.body);
    }, next);
  };
  return Object.assign(middleware, { handler: handle });
}
