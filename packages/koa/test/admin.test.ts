import type { AddressInfo } from 'node:net';
import { runAdminConformance } from '@authcache/conformance';
import Koa from 'koa';
import { adminRouter } from '../src/index.js';

runAdminConformance({
  name: 'koa',
  async listen(options) {
    const app = new Koa();
    app.use(adminRouter({ ...options, prefix: '/admin' }));
    app.use((ctx) => {
      ctx.status = 418;
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/admin`,
      close: () =>
        new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
    };
  },
});
