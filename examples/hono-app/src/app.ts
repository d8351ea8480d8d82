import type { IncomingMessage } from 'node:http';
import {
  type ApiResponse,
  createToken,
  type ExampleContext,
  exampleAdminOptions,
  heartbeat,
  me,
  revokeToken,
  S3_MOUNT,
  type S3Response,
} from '@authcache/example-shared';
import { adminRouter, daemonAuth, patAuth } from '@authcache/hono';
import { type SigV4Env, sigv4Auth } from '@authcache/hono/sigv4';
import { verifiedWebBody } from '@authcache/sigv4';
import { getRequestListener } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

function send(c: Context, { status, body }: ApiResponse): Response {
  if (body === undefined) return c.body(null, status as ContentfulStatusCode);
  return c.json(body, status as ContentfulStatusCode);
}

function sendS3(c: Context, { status, headers, body }: S3Response): Response {
  // A view on the Buffer, not a copy: objects run to tens of MiB.
  const data =
    typeof body === 'string' || body === null
      ? body
      : new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
  return c.newResponse(data, status as ContentfulStatusCode, headers);
}

/**
 * The request target as the client sent (and signed) it. `c.req.url` is a WHATWG URL, with dot
 * segments resolved (`/s3/b/d/./e/../f` becomes `/s3/b/d/f`), while an S3 key is taken literally;
 * under `@hono/node-server` the raw target is the node request's `url`.
 */
function rawTarget(c: Context): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming?.url !== undefined) return incoming.url;
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}

function underS3(target: string): boolean {
  const path = target.split('?', 1)[0]!;
  return path === S3_MOUNT || path.startsWith(`${S3_MOUNT}/`);
}

/** The Hono app over an example context. */
export function createHonoApp(ctx: ExampleContext): Hono {
  const app = new Hono();
  const pat = patAuth({ auth: ctx.auth });

  // S3 (path-style) behind SigV4; the body is read through the signature's verifier. Chosen by
  // the raw target, like Express's and Koa's mounts, not by Hono's router, which matches the
  // normalised path: `/s3/b/../../api/me` is an S3 key here, and `/api/../s3/b/k` is not S3.
  const s3 = new Hono<SigV4Env>();
  s3.use(sigv4Auth(ctx.s3Auth));
  s3.all('*', async (c) =>
    sendS3(
      c,
      await ctx.s3.handle({
        method: c.req.method,
        rawUrl: rawTarget(c),
        headers: c.req.header(),
        auth: c.var.auth,
        body: () => verifiedWebBody(c.req.raw.body, c.var.sigv4),
      }),
    ),
  );
  app.use(async (c, next) => {
    if (underS3(rawTarget(c))) return s3.fetch(c.req.raw, c.env);
    await next();
  });

  app.get('/api/me', pat, (c) => send(c, me(c.var.auth)));
  // Read only once the caller is authenticated, and at most 4 KiB of it (413), as Express and Koa.
  app.post('/api/tokens', pat, bodyLimit({ maxSize: 4 * 1024 }), async (c) => {
    const body = await c.req.json().catch(() => undefined);
    return send(c, await createToken(ctx, c.var.auth, body));
  });
  app.delete('/api/tokens/:id', pat, async (c) =>
    send(c, await revokeToken(ctx, c.var.auth, c.req.param('id'))),
  );
  app.post('/api/daemon/heartbeat', daemonAuth({ auth: ctx.auth }), (c) =>
    send(c, heartbeat(c.var.auth)),
  );
  // The admin API and console, for the subjects of ADMIN_SUBJECTS.
  app.route('/admin', adminRouter(exampleAdminOptions(ctx)));
  return app;
}

/** The same app as a node:http request listener (what `@hono/node-server` serves). */
export function createApp(ctx: ExampleContext) {
  return getRequestListener(createHonoApp(ctx).fetch);
}
