import {
  type ApiResponse,
  createToken,
  type ExampleContext,
  heartbeat,
  me,
  revokeToken,
} from '@authcache/example-shared';
import { daemonAuth, patAuth } from '@authcache/hono';
import { getRequestListener } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

function send(c: Context, { status, body }: ApiResponse): Response {
  if (body === undefined) return c.body(null, status as ContentfulStatusCode);
  return c.json(body, status as ContentfulStatusCode);
}

/** The Hono app over an example context. */
export function createHonoApp(ctx: ExampleContext): Hono {
  const app = new Hono();
  const pat = patAuth({ auth: ctx.auth });

  app.get('/api/me', pat, (c) => send(c, me(c.var.auth)));
  app.post('/api/tokens', pat, async (c) => {
    const body = await c.req.json().catch(() => undefined);
    return send(c, await createToken(ctx, c.var.auth, body));
  });
  app.delete('/api/tokens/:id', pat, async (c) =>
    send(c, await revokeToken(ctx, c.var.auth, c.req.param('id'))),
  );
  app.post('/api/daemon/heartbeat', daemonAuth({ auth: ctx.auth }), (c) =>
    send(c, heartbeat(c.var.auth)),
  );
  return app;
}

/** The same app as a node:http request listener (what `@hono/node-server` serves). */
export function createApp(ctx: ExampleContext) {
  return getRequestListener(createHonoApp(ctx).fetch);
}
