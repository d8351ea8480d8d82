import { fileURLToPath } from 'node:url';
import { defineExampleSmokeTests } from '@authcache/example-shared/testing';

defineExampleSmokeTests({ name: 'koa-app', dir: fileURLToPath(new URL('..', import.meta.url)) });
