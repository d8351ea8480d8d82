import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readNodeBody, verifiedNodeBody } from '@authcache/sigv4';
import Koa from 'koa';
import { sdkScenario } from '../../sigv4/test/sdk-scenario.js';
import { type SigV4State, sigv4Auth } from '../src/sigv4.js';

sdkScenario('koa 3 with sigv4Auth', async (fixture) => {
  const dynamoAuth = sigv4Auth(fixture.dynamoOptions);
  const s3Auth = sigv4Auth(fixture.s3Options);
  const app = new Koa<SigV4State>();
  app.use(async (ctx, next) => {
    // Node's own Date uses the real clock; the fixture's clock may be moved by a test.
    ctx.set('date', new Date(fixture.clock()).toUTCString());
    await next();
  });
  app.use(async (ctx, next) => {
    if (!ctx.get('x-amz-target')) return next();
    return dynamoAuth(ctx, async () => {
      // sigv4Auth read the signed body and put it back: a later body parser still gets it.
      const body = JSON.parse((await readNodeBody(ctx.req)).toString());
      if (typeof body !== 'object' || body === null) {
        ctx.status = 500;
        return;
      }
      const answer = fixture.dynamo(ctx.state.auth!.subject);
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
    });
  });
  app.use(s3Auth);
  app.use(async (ctx) => {
    const answer = await fixture.s3({
      method: ctx.method,
      rawUrl: ctx.originalUrl,
      headers: ctx.headers,
      auth: ctx.state.auth!,
      payload: ctx.state.sigv4!.payload,
      body: () => verifiedNodeBody(ctx.req, ctx.state.sigv4!),
    });
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});
