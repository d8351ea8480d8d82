import type { AddressInfo } from 'node:net';
import { runAdminConformance } from '@authcache/conformance';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { adminRouter } from '../src/index.js';

runAdminConformance({
  name: 'hono',
  async listen(options) {
    const app = new Hono();
    app.route('/admin', adminRouter(options));
    let server!: ReturnType<typeof serve>;
    await new Promise<void>((ready) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ready());
    });
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/admin`,
      close: () => new Promise<void>((done) => server.close(() => done())),
    };
  },
});
