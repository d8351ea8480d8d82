import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createCachedSigV4Verifier,
  verifiedNodeBody,
  verifyNodeRequest,
  writeSigV4Error,
} from '../src/index.js';
import { sdkScenario } from './sdk-scenario.js';

sdkScenario('a plain node:http server', async (fixture) => {
  const s3 = createCachedSigV4Verifier(fixture.s3Options);
  const dynamo = createCachedSigV4Verifier(fixture.dynamoOptions);
  const server = createServer(async (req, res) => {
    // node's automatic Date uses the real clock; the fixture's clock may be moved by a test.
    res.setHeader('date', new Date(fixture.clock()).toUTCString());
    try {
      if (req.headers['x-amz-target']) {
        const result = await verifyNodeRequest(dynamo, req);
        if (!result.ok)
          return writeSigV4Error(res, result.error, { protocol: 'json', now: fixture.clock() });
        const answer = fixture.dynamo(result.principal.subject);
        return void res.writeHead(answer.status, answer.headers).end(answer.body);
      }
      const result = await verifyNodeRequest(s3, req);
      if (!result.ok) {
        return writeSigV4Error(res, result.error, {
          method: req.method,
          resource: req.url,
          now: fixture.clock(),
        });
      }
      const answer = await fixture.s3({
        method: req.method!,
        rawUrl: req.url!,
        headers: req.headers,
        auth: { ...result.principal, path: 'sigv4' },
        payload: result.payload,
        body: () => verifiedNodeBody(req, result),
      });
      res.writeHead(answer.status, answer.headers).end(answer.body);
    } catch (error) {
      writeSigV4Error(res, error);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});
