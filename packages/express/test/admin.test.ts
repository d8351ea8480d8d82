import type { AddressInfo } from 'node:net';
import { runAdminConformance } from '@authcache/conformance';
import express from 'express';
import { adminRouter } from '../src/index.js';

runAdminConformance({
  name: 'express',
  async listen(options) {
    const app = express();
    app.use('/admin', adminRouter(options));
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
