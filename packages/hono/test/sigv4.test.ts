import type { AddressInfo } from 'node:net';
import type { Identity } from '@authcache/core';
import { createSigV4Verifier, verifiedWebBody } from '@authcache/sigv4';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { sdkScenario } from '../../sigv4/test/sdk-scenario.js';
import { type SigV4Env, sigv4Auth } from '../src/sigv4.js';

sdkScenario('hono on @hono/node-server with sigv4Auth', async (fixture) => {
  const app = new Hono<SigV4Env>();
  app.use(async (c, next) => {
    await next();
    // Node's own Date uses the real clock; the fixture's clock may be moved by a test.
    c.res.headers.set('date', new Date(fixture.clock()).toUTCString());
  });
  const dynamoAuth = sigv4Auth(fixture.dynamoOptions);
  const s3Auth = sigv4Auth(fixture.s3Options);
  app.post(
    '/',
    async (c, next) => (c.req.header('x-amz-target') ? dynamoAuth(c, next) : s3Auth(c, next)),
    async (c) => {
      // sigv4Auth read the signed body; Hono cached it, so parsing still works.
      const body = await c.req.json();
      if (typeof body !== 'object' || body === null) return c.body(null, 500);
      const answer = fixture.dynamo(c.var.auth.subject);
      return c.body(answer.body as string, answer.status as 200, answer.headers);
    },
  );
  app.use('*', s3Auth);
  app.all('*', async (c) => {
    const incoming = (c.env as { incoming: { url: string } }).incoming;
    const answer = await fixture.s3({
      method: c.req.method,
      rawUrl: incoming.url,
      headers: c.req.header(),
      auth: c.var.auth,
      payload: c.var.sigv4.payload,
      body: () => verifiedWebBody(c.req.raw.body, c.var.sigv4),
    });
    return c.body(
      typeof answer.body === 'string' ? answer.body : new Uint8Array(answer.body),
      answer.status as 200,
      answer.headers,
    );
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});

describe('sigv4Auth body limit (non-S3)', () => {
  it('stops reading a chunked body past bodyLimit instead of buffering all of it', async () => {
    const verifier = createSigV4Verifier<Identity>({
      service: 'dynamodb',
      region: 'us-east-1',
      lookupKey: async () => null,
    });
    const app = new Hono();
    app.use(sigv4Auth({ verifier, bodyLimit: 1024 }));
    app.post('/', (c) => c.text('unreachable'));
    let produced = 0;
    // No Content-Length: a chunked 8 MiB body, 16 KiB per pull (finite, so a regression that
    // buffers everything fails on the count instead of hanging).
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= 8 * 1024 * 1024) return controller.close();
        produced += 16 * 1024;
        controller.enqueue(new Uint8Array(16 * 1024));
      },
    });
    const res = await app.request('/', {
      method: 'POST',
      body: endless,
      duplex: 'half', // undici needs it for a streamed request body
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The request body is too large.');
    expect(produced).toBeLessThanOrEqual(4 * 16 * 1024);
  });
});
