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
import { type AuthState, adminRouter, daemonAuth, patAuth } from '@authcache/koa';
import { type SigV4State, sigv4Auth } from '@authcache/koa/sigv4';
import { verifiedNodeBody } from '@authcache/sigv4';
import Router from '@koa/router';
import parseBody from 'co-body';
import Koa, { type Context } from 'koa';

function send(ctx: Context, { status, body }: ApiResponse): void {
  ctx.status = status;
  if (body !== undefined) ctx.body = body;
}

function sendS3(ctx: Context, { status, headers, body }: S3Response): void {
  ctx.status = status;
  ctx.set(headers);
  // An empty string, not null: Koa turns a null body into a 204.
  ctx.body = body ?? '';
}

/** The Koa app over an example context, as a node:http request listener. */
export function createApp(ctx: ExampleContext) {
  const app = new Koa<SigV4State>();
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
  // S3 (path-style) behind SigV4; the body is read through the signature's verifier.
  const s3Auth = sigv4Auth(ctx.s3Auth);
  app.use((c, next) => {
    if (c.path !== S3_MOUNT && !c.path.startsWith(`${S3_MOUNT}/`)) return next();
    return s3Auth(c, async () =>
      sendS3(
        c,
        await ctx.s3.handle({
          method: c.method,
          rawUrl: c.originalUrl,
          headers: c.headers,
          auth: c.state.auth!,
          body: () => verifiedNodeBody(c.req, c.state.sigv4!),
        }),
      ),
    );
  });
  // The admin API and console, for the subjects of ADMIN_SUBJECTS.
  app.use(adminRouter({ ...exampleAdminOptions(ctx), prefix: '/admin' }));
  app.use(router.routes()).use(router.allowedMethods());
  return app.callback();
}
