import {
  type ApiResponse,
  createToken,
  type ExampleContext,
  heartbeat,
  me,
  revokeToken,
} from '@authcache/example-shared';
import { type AuthState, daemonAuth, patAuth } from '@authcache/koa';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
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
  // Bodies are parsed only once the caller is authenticated.
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });

  router.get('/api/me', pat, (c) => send(c, me(c.state.auth!)));
  router.post('/api/tokens', pat, json, async (c) =>
    send(c, await createToken(ctx, c.state.auth!, c.request.body)),
  );
  router.delete('/api/tokens/:id', pat, async (c) =>
    send(c, await revokeToken(ctx, c.state.auth!, c.params.id!)),
  );
  router.post('/api/daemon/heartbeat', daemonAuth({ auth: ctx.auth }), (c) =>
    send(c, heartbeat(c.state.auth!)),
  );
  app.use(router.routes()).use(router.allowedMethods());
  return app.callback();
}
