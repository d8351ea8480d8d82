// The guided tour `pnpm demo` prints: it drives a running example over real HTTP and WebSocket
// and shows, after each step, what the auth cache did (store queries, hits, invalidations).
import type { AuthCacheStats } from '@authcache/core';
import WebSocket from 'ws';
import type { RunningExample } from './server.js';

/** Where the tour writes. Default: `console.log`. */
export type TourPrinter = (line: string) => void;

/** Options of {@link runTour}. */
export interface TourOptions {
  /** The seeded PAT (user `demo`) and daemon token (workspace `demo`, daemon `demo`). */
  pat: string;
  daemonToken: string;
  /** Lifetime of the token of the expiry step, in seconds. Default: `2`. */
  expiresIn?: number;
  print?: TourPrinter;
}

/** Thrown when the app does not behave as the tour says it does. */
export class TourError extends Error {
  override name = 'TourError';
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new TourError(message);
}

const COUNTERS = ['storeQueries', 'hits', 'misses', 'negativeHits', 'invalidations'] as const;

/** "store queries +1 · cache hits +0 · …" between two snapshots. */
function describeDelta(before: AuthCacheStats, after: AuthCacheStats): string {
  const label: Record<(typeof COUNTERS)[number], string> = {
    storeQueries: 'store queries',
    hits: 'cache hits',
    misses: 'misses',
    negativeHits: 'negative/tombstone hits',
    invalidations: 'invalidations',
  };
  return COUNTERS.map((name) => `${label[name]} +${after[name] - before[name]}`).join(' · ');
}

interface OpenSocket {
  ws: WebSocket;
  welcome: { identity: Record<string, unknown> };
  closed: Promise<{ code: number; reason: string; at: number }>;
}

function openSocket(url: string, protocols: string[]): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
      ws.once('close', (code, reason) => done({ code, reason: String(reason), at: Date.now() })),
    );
    ws.once('message', (data) => resolve({ ws, welcome: JSON.parse(String(data)), closed }));
    ws.once('unexpected-response', (_req, res) =>
      reject(new TourError(`WebSocket refused: HTTP ${res.statusCode}`)),
    );
    ws.once('error', reject);
  });
}

/** Runs the tour against `app`. Resolves when every step behaved as printed; else throws. */
export async function runTour(app: RunningExample, options: TourOptions): Promise<void> {
  const print = options.print ?? ((line: string) => console.log(line));
  const { auth } = app.ctx;
  const { pat, daemonToken } = options;
  const wsUrl = `${app.url.replace(/^http/, 'ws')}/ws`;
  let step = 0;
  let snapshot = auth.stats();
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(`${app.url}${path}`, {
      method,
      headers: {
        ...(token ? bearer(token) : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const title = (text: string) => {
    step += 1;
    print('');
    print(`${step}. ${text}`);
    snapshot = auth.stats();
  };
  const stats = () => {
    const now = auth.stats();
    print(`   cache: ${describeDelta(snapshot, now)}`);
    return { before: snapshot, now };
  };

  title('First request with the PAT: a cache miss, so one store query');
  const first = await call('GET', '/api/me', pat);
  check(first.status === 200, `GET /api/me answered ${first.status}`);
  const me = (await first.json()) as { subject: string };
  print(`   GET /api/me → 200, user "${me.subject}"`);
  let delta = stats();
  check(
    delta.now.storeQueries - delta.before.storeQueries === 1,
    'the first request should query the store once',
  );

  title('100 more requests with the same PAT: answered from the in-process cache');
  const repeated = await Promise.all(
    Array.from({ length: 100 }, () => call('GET', '/api/me', pat)),
  );
  check(
    repeated.every((res) => res.status === 200),
    'every repeated request should be 200',
  );
  print('   100 × GET /api/me → 200');
  delta = stats();
  check(
    delta.now.storeQueries === delta.before.storeQueries,
    'cached requests must not query the store',
  );

  title('Daemon heartbeats (the hottest route): one query, then none');
  for (let i = 0; i < 50; i++) {
    const res = await call('POST', '/api/daemon/heartbeat', daemonToken);
    check(res.status === 200, `heartbeat answered ${res.status}`);
    if (i === 0) {
      const body = (await res.json()) as { path: string; workspaceId: string; daemonId: string };
      print(
        `   POST /api/daemon/heartbeat → 200 (${body.path}, workspace ${body.workspaceId}, daemon ${body.daemonId})`,
      );
    } else await res.arrayBuffer();
  }
  print('   … 49 more heartbeats → 200');
  delta = stats();
  check(
    delta.now.storeQueries - delta.before.storeQueries === 1,
    'heartbeats should cost one query in all',
  );
  await auth.flushTouches();
  const touched = auth.stats();
  print(
    `   last_used_at: ${touched.touchedTokens} token row(s) written in ${touched.touchBatches} batched UPDATE(s) so far, at most once per token per window`,
  );

  title('A WebSocket with the daemon token in Sec-WebSocket-Protocol: bearer, <token>');
  const daemonSocket = await openSocket(wsUrl, ['bearer', daemonToken]);
  print(`   connected; server chose subprotocol "${daemonSocket.ws.protocol}" (never the token)`);
  print(`   welcome: ${JSON.stringify(daemonSocket.welcome.identity)}`);
  check(daemonSocket.ws.protocol === 'bearer', 'the server must echo only "bearer"');
  stats();

  title('Revoke a token: the next request is 401 at once, and its WebSocket is closed');
  const created = await call('POST', '/api/tokens', pat, { name: 'tour-laptop' });
  check(created.status === 201, `POST /api/tokens answered ${created.status}`);
  const laptop = (await created.json()) as { id: string; token: string };
  print(`   POST /api/tokens → 201, new PAT ${laptop.id}`);
  check((await call('GET', '/api/me', laptop.token)).status === 200, 'the new PAT should work');
  const laptopSocket = await openSocket(wsUrl, ['bearer', laptop.token]);
  print('   used it once over HTTP (now cached) and opened a WebSocket with it');
  const revokedAt = Date.now();
  const revoke = await call('DELETE', `/api/tokens/${laptop.id}`, pat);
  check(revoke.status === 204, `DELETE /api/tokens/:id answered ${revoke.status}`);
  const afterRevoke = await call('GET', '/api/me', laptop.token);
  print(
    `   DELETE /api/tokens/${laptop.id} → 204; GET /api/me with it → ${afterRevoke.status} ${afterRevoke.headers.get('www-authenticate')}`,
  );
  check(afterRevoke.status === 401, 'a revoked token must be rejected at once');
  const closed = await laptopSocket.closed;
  print(
    `   its WebSocket closed with ${closed.code} "${closed.reason}", ${closed.at - revokedAt} ms after the revoke`,
  );
  check(closed.code === 4401, 'the revoked token’s socket must be closed with 4401');
  stats();

  const expiresIn = options.expiresIn ?? 2;
  title(`A token that expires in ${expiresIn} s: cached no longer than its expires_at`);
  const short = await call('POST', '/api/tokens', pat, { name: 'tour-short-lived', expiresIn });
  const shortLived = (await short.json()) as { id: string; token: string; expiresAt: string };
  const expiresAt = Date.parse(shortLived.expiresAt);
  check(
    (await call('GET', '/api/me', shortLived.token)).status === 200,
    'the short-lived PAT should work',
  );
  const shortSocket = await openSocket(wsUrl, ['bearer', shortLived.token]);
  print(`   GET /api/me → 200 and a WebSocket opened; expires at ${shortLived.expiresAt}`);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 100));
  const expired = await call('GET', '/api/me', shortLived.token);
  print(
    `   after expiry: GET /api/me → ${expired.status} ${expired.headers.get('www-authenticate')}`,
  );
  check(expired.status === 401, 'an expired token must be rejected');
  const shortClosed = await shortSocket.closed;
  print(
    `   its WebSocket closed with ${shortClosed.code} "${shortClosed.reason}", ${shortClosed.at - expiresAt} ms after expires_at`,
  );
  check(shortClosed.code === 4401, 'the expired token’s socket must be closed with 4401');
  stats();

  title('Break glass: drop every cached token of user "demo" through the admin API');
  // The seeded user is the examples' default admin (ADMIN_SUBJECTS); its PAT is the credential.
  const metrics = async () => {
    const res = await call('GET', '/admin/metrics', pat);
    check(res.status === 200, `GET /admin/metrics answered ${res.status}`);
    return ((await res.json()) as { stats: AuthCacheStats }).stats;
  };
  const beforeScope = await metrics();
  check((await call('GET', '/api/me', pat)).status === 200, 'the PAT should still work');
  const scoped = await call('POST', '/admin/invalidate', pat, {
    scope: 'subject',
    subject: 'demo',
  });
  check(scoped.status === 200, `POST /admin/invalidate answered ${scoped.status}`);
  const outcome = ((await scoped.json()) as { outcome: { dropped: number } }).outcome;
  print(
    `   POST /admin/invalidate {"scope":"subject","subject":"demo"} → 200, ${outcome.dropped} cached identities dropped`,
  );
  const queriesBefore = auth.stats().storeQueries;
  check((await call('GET', '/api/me', pat)).status === 200, 'nothing was revoked');
  check(auth.stats().storeQueries > queriesBefore, 'the next request should ask the store');
  print('   GET /api/me → 200 again: nothing was revoked, but this answer came from the store');
  const afterScope = await metrics();
  print(
    `   GET /admin/metrics: invalidationsByScope.subject ${beforeScope.invalidationsByScope.subject} → ${afterScope.invalidationsByScope.subject}`,
  );
  check(
    afterScope.invalidationsByScope.subject === beforeScope.invalidationsByScope.subject + 1,
    'the subject counter should move by one',
  );
  stats();

  daemonSocket.ws.close(1000, 'tour done');
  await daemonSocket.closed;
  const total = auth.stats();
  print('');
  print(
    `Totals: ${total.storeQueries} store queries for ${total.hits + total.misses + total.negativeHits} lookups ` +
      `(${total.hits} cache hits, ${total.negativeHits} negative/tombstone hits), ${total.invalidations} invalidations, ` +
      `${total.size} identities cached.`,
  );
}
