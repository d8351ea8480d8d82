import { fileURLToPath } from 'node:url';
import { defineExampleSmokeTests } from '@authcache/example-shared/testing';

// The 50 MB AWS CLI round trip runs here; Express and Koa copy 12 MB (also multipart, ranged).
defineExampleSmokeTests({
  name: 'hono-app',
  dir: fileURLToPath(new URL('..', import.meta.url)),
  awsCliBytes: 50_000_000,
});
