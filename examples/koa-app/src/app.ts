import {
  type ApiResponse,
  createToken,
  type ExampleContext,
  heartbeat,
  me,
  revokeToken,
} from '@authcache/example-shared';
import { type AuthState, daemonAuth, patAuth } from '@authcache/koa';
import Router from '@koa/router';
import parseBody from 'co-body';
import Koa, { type Context } from 'koa';

function send(ctx: Context, { status, body }: ApiResponse): void {
  ctx.status = status;
  if (body !== undefined) ctx.body = body;
}

/** The Koa app over an example context, as a node:http request listener. */
export function createApp(ctx: ExampleContext) {
  const app = new Koa<AuthState>();
  const router = new Router<AuthState>();
  const pat = patAuth({ auth: ctx.auth });

  router.get('/api/me', pat, (c) => send(c, me(c.state.auth!)));
  router.post('/api/tokens', pat, async (c) => {
    // Read only once the caller is authenticated; a bad body throws a 400 (co-body, as
    // koa-bodyparser uses, without its global `IncomingMessage.rawBody` typing).
    const body: unknown = await parseBody.json(c, { limit: '4kb' });
    send(c, await createToken(ctx, c.state.auth!, body));
  });
  router.delete('/api/tokens/:id', pat, async (c) =>
    send(c, await revokeToken(ctx, c.state.auth!, c.params.id!)),
  );
  router.post('/api/daemon/heartbeat', daemonAuth({ auth: ctx.auth }), (c) =>
    send(c, heartbeat(c.state.auth!)),
  );
  app.use(router.routes()).use(router.allowedMethods());
  return app.callback();
}
