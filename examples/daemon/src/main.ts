// A daemon that heartbeats to an example server (examples/*-app) forever.
//
//   AUTHCACHE_URL=http://127.0.0.1:3000 DAEMON_TOKEN_FILE=./daemon.token npx -y pnpm@10 start
//
// Its credential: the mdt_ token in DAEMON_TOKEN_FILE (re-read when the file changes: rotate it
// by writing a new token there), or, when OIDC_ISSUER is set, an OAuth client-credentials token
// (OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_SCOPE) for a server that accepts JWTs.
import { fromFile, type TokenSource } from '@authcache/outbound';
import { oauthClientCredentials } from '@authcache/outbound/oauth';
import { startHeartbeat } from './heartbeat.js';

const env = process.env;
const url = env.AUTHCACHE_URL ?? 'http://127.0.0.1:3000';

function credential(): TokenSource {
  if (env.OIDC_ISSUER) {
    if (!env.OIDC_CLIENT_ID || !env.OIDC_CLIENT_SECRET) {
      throw new Error('OIDC_ISSUER needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET');
    }
    return oauthClientCredentials({
      issuer: env.OIDC_ISSUER,
      clientId: env.OIDC_CLIENT_ID,
      clientSecret: env.OIDC_CLIENT_SECRET,
      scope: env.OIDC_SCOPE,
      allowInsecureRequests: env.OIDC_ISSUER.startsWith('http://127.0.0.1'),
    });
  }
  return fromFile(env.DAEMON_TOKEN_FILE ?? 'daemon.token');
}

const source = credential();
const heartbeat = startHeartbeat({
  url,
  source,
  intervalMs: Number(env.HEARTBEAT_INTERVAL_MS ?? 5_000),
  onBeat: (beat) => {
    // Never the token: its status, its time, and how many calls ever waited for a fetch.
    const detail = beat.error ? ` ${beat.error}` : '';
    console.log(
      `heartbeat ${beat.status} in ${beat.ms.toFixed(1)} ms (waits so far: ${beat.waits})${detail}`,
    );
  },
});
const stop = async () => {
  await heartbeat.stop();
  source.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
