// `pnpm demo`: the hono example on the embedded store, on a free port, seeded with a PAT and a
// daemon token; prints copy-paste curl lines, then tours itself and exits (or keeps serving
// with --serve).

import { createApp } from '../examples/hono-app/src/app.js';
import { serveExample } from '../examples/shared/src/index.js';
import { runTour } from '../examples/shared/src/tour.js';

const serve = process.argv.includes('--serve');
const print = (line = '') => console.log(line);

print('authcache demo: the hono example app on an embedded PGlite store (no Postgres, no Redis).');
// An empty env: the embedded store, whatever DATABASE_URL / REDIS_URL / PORT say.
const app = await serveExample({ createListener: createApp, env: {}, port: 0 });
const { store } = app.ctx;
const pat = await store.createPat({ userId: 'demo', name: 'demo laptop' });
const daemon = await store.createDaemonToken({ workspaceId: 'demo', daemonId: 'demo' });

print(`Listening on ${app.url}`);
print('');
print(
  'Seeded for user "demo" (these are demo secrets; a real app shows a token once, to its owner):',
);
print(`  PAT           ${pat.token}`);
print(`  daemon token  ${daemon.token}   (workspace demo, daemon demo)`);
print('');
print('Try it (while it runs; add --serve to keep it running after the tour):');
print(`  curl -i -H "Authorization: Bearer ${pat.token}" ${app.url}/api/me`);
print(
  `  curl -i -X POST -H "Authorization: Bearer ${daemon.token}" ${app.url}/api/daemon/heartbeat`,
);
print(
  `  curl -i -X POST -H "Authorization: Bearer ${pat.token}" -H "Content-Type: application/json" ` +
    `-d '{"name":"cli","expiresIn":3600}' ${app.url}/api/tokens`,
);
print(`  curl -i ${app.url}/api/me    # no token: 401 with WWW-Authenticate`);
print('');
print('The tour:');

let failed = false;
try {
  await runTour(app, { pat: pat.token, daemonToken: daemon.token, print });
  print('');
  print('Tour complete: every step behaved as described.');
} catch (error) {
  failed = true;
  print('');
  print(`Tour FAILED: ${error instanceof Error ? error.message : String(error)}`);
}

if (serve && !failed) {
  print(`Still serving on ${app.url} (Ctrl-C to stop).`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  await app.close();
  process.exit(failed ? 1 : 0);
}
