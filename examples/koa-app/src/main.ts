import { runExample } from '@authcache/example-shared';
import { createApp } from './app.js';

await runExample('koa-app', createApp);
