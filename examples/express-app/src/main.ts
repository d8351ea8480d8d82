import { runExample } from '@authcache/example-shared';
import { createApp } from './app.js';
import { runFileExample } from './file-mode.js';

// TOKEN_FILE=./tokens.json: tokens from a file (@authcache/file) instead of a database.
if (process.env.TOKEN_FILE) await runFileExample('express-app', process.env.TOKEN_FILE);
else await runExample('express-app', createApp);
