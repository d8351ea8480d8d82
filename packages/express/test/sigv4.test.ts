import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifiedNodeBody } from '@authcache/sigv4';
import express from 'express';
import { sdkScenario } from '../../sigv4/test/sdk-scenario.js';
import { sigv4Auth } from '../src/sigv4.js';

sdkScenario('express 5 with sigv4Auth', async (fixture) => {
  const app = express();
  // Express's own Date uses the real clock; the fixture's clock may be moved by a test.
  app.use((_req, res, next) => {
    res.setHeader('date', new Date(fixture.clock()).toUTCString());
    next();
  });
  // DynamoDB-style: the signed body is read by sigv4Auth and still parsed by express.json().
  app.post(
    '/',
    sigv4Auth(fixture.dynamoOptions),
    express.json({ type: 'application/x-amz-json-1.0' }),
    (req, res) => {
      if (typeof req.body !== 'object' || req.body === null) return void res.status(500).end();
      const answer = fixture.dynamo(req.auth!.subject);
      res.status(answer.status).set(answer.headers).send(answer.body);
    },
  );
  app.use(sigv4Auth(fixture.s3Options), async (req, res) => {
    const answer = await fixture.s3({
      method: req.method,
      rawUrl: req.originalUrl,
      headers: req.headers,
      auth: req.auth!,
      payload: req.sigv4!.payload,
      body: () => verifiedNodeBody(req, req.sigv4!),
    });
    res.status(answer.status).set(answer.headers).send(answer.body);
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
});
