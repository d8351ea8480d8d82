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
import { adminRouter, daemonAuth, patAuth } from '@authcache/express';
import { sigv4Auth } from '@authcache/express/sigv4';
import { verifiedNodeBody } from '@authcache/sigv4';
import express, { type ErrorRequestHandler, type Response } from 'express';

function send(res: Response, { status, body }: ApiResponse): void {
  if (body === undefined) res.status(status).end();
  else res.status(status).json(body);
}

function sendS3(res: Response, { status, headers, body }: S3Response): void {
  res.status(status).set(headers);
  if (body === null) res.end();
  else res.send(body);
}

/** Auth failures keep their status and `WWW-Authenticate` / `Retry-After`; the body is JSON. */
export const jsonErrors: ErrorRequestHandler = (error, _req, res, _next) => {
  const status = Number.isInteger(error?.status) ? (error.status as number) : 500;
  if (error?.headers) res.set(error.headers);
  res.status(status).json({
    error: status < 500 || error?.expose ? String(error.message) : 'Internal Server Error',
  });
};

/** The Express app over an example context: the routes, nothing else. */
export function createApp(ctx: ExampleContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const pat = patAuth({ auth: ctx.auth });
  // Bodies are parsed only once the caller is authenticated.
  const json = express.json({ limit: '4kb' });

  app.get('/api/me', pat, (req, res) => send(res, me(req.auth!)));
  app.post('/api/tokens', pat, json, async (req, res) =>
    send(res, await createToken(ctx, req.auth!, req.body)),
  );
  app.delete('/api/tokens/:id', pat, async (req, res) =>
    send(res, await revokeToken(ctx, req.auth!, String(req.params.id))),
  );
  app.post('/api/daemon/heartbeat', daemonAuth({ auth: ctx.auth }), (req, res) =>
    send(res, heartbeat(req.auth!)),
  );
  // S3 (path-style) behind SigV4; the body is read through the signature's verifier.
  app.use(S3_MOUNT, sigv4Auth(ctx.s3Auth), async (req, res) =>
    sendS3(
      res,
      await ctx.s3.handle({
        method: req.method,
        rawUrl: req.originalUrl,
        headers: req.headers,
        auth: req.auth!,
        body: () => verifiedNodeBody(req, req.sigv4!),
      }),
    ),
  );
  // The admin API and console, for the subjects of ADMIN_SUBJECTS (it reads its own bodies).
  app.use('/admin', adminRouter(exampleAdminOptions(ctx)));
  app.use(jsonErrors);
  return app;
}
