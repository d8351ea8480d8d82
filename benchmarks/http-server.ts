// One Express 5 app of the HTTP benchmark, run as a child process of http-auth.ts so that the
// server has its own event loop (and, on a 2-core box, its own core) while autocannon loads it
// from the parent. Not meant to be started by hand.
//
// Protocol (IPC): the child sends { type: 'ready', port } once listening; on { type: 'stop' } it
// stops accepting requests, flushes pending touches, reports its app-side counters as
// { type: 'stats', ... }, closes its pg pool (so that Postgres flushes the statistics of those
// backends as they exit) and exits.
import { hash } from 'node:crypto';
import type { Server } from 'node:http';
import { type AuthCache, createAuthCache } from '@authcache/core';
import { patAuth } from '@authcache/express';
import { createPgTokenStore } from '@authcache/pg';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import passport from 'passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import pg from 'pg';
import { deleteKeys, loadRedisTier, type RedisClientLike } from './redis-tier.js';

export type Variant = 'floor' | 'peer' | 'authcache' | 'authcache-redis';

export interface ServerStats {
  type: 'stats';
  /** Requests answered 200 by the protected route. */
  served: number;
  /** Statements sent to Postgres by the app, counted in the app (cross-check of the DB count). */
  selects: number;
  updates: number;
  /** The auth cache's own counters, when there is one. */
  cache?: {
    hits: number;
    misses: number;
    l2Hits: number;
    storeQueries: number;
    touchBatches: number;
  };
}

const variant = process.env.BENCH_VARIANT as Variant;
const schema = process.env.BENCH_SCHEMA!;
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BENCH_POOL_SIZE),
  // The parent waits for the backends of this name to be gone before it reads pg_stat_*.
  application_name: process.env.BENCH_APP_NAME,
});
const table = `"${schema}".personal_access_token`;

let served = 0;
let selects = 0;
let updates = 0;
let auth: AuthCache | undefined;
let redis: RedisClientLike | undefined;

/** What a typical app does per request: look the token up by its hash, then record its use. */
function peerAuth(): RequestHandler {
  passport.use(
    new BearerStrategy((token, done) => {
      (async () => {
        selects++;
        const { rows } = await pool.query<{ id: string; user_id: string; scopes: string[] }>(
          `SELECT id, user_id, scopes FROM ${table}
            WHERE token_hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > now())`,
          [hash('sha256', token, 'hex')],
        );
        const row = rows[0];
        if (!row) return false;
        updates++;
        await pool.query(`UPDATE ${table} SET last_used_at = now() WHERE id = $1`, [row.id]);
        return { subject: row.user_id, scopes: row.scopes };
      })().then((user) => done(null, user), done);
    }),
  );
  // failWithError: a 401 goes through next(err), so the request is counted as done.
  return passport.authenticate('bearer', { session: false, failWithError: true });
}

async function authMiddleware(): Promise<RequestHandler> {
  if (variant === 'floor') return (_req, _res, next) => next();
  if (variant === 'peer') return peerAuth();
  const store = createPgTokenStore({ db: pool, schema });
  if (variant === 'authcache') {
    auth = createAuthCache({ store });
    return patAuth({ auth });
  }
  const loaded = await loadRedisTier();
  if (!loaded) throw new Error('@authcache/redis is not in this checkout');
  redis = await loaded.connect(process.env.REDIS_URL!);
  auth = createAuthCache({
    store,
    tier: loaded.createRedisTier({ redis, prefix: process.env.BENCH_REDIS_PREFIX! }),
  });
  return patAuth({ auth });
}

/** Requests whose handling has not finished: the pool is closed only once this is 0. */
let inFlight = 0;
let drained: (() => void) | undefined;
function done(): void {
  inFlight--;
  if (inFlight === 0) drained?.();
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const track: RequestHandler = (_req, _res, next) => {
  inFlight++;
  next();
};
app.get('/api/me', track, await authMiddleware(), (req, res) => {
  served++;
  const user = (req.auth ?? req.user) as { subject: string } | undefined;
  res.json({ subject: user?.subject ?? 'anonymous' });
  done();
});
// Any failure (a 401, a 503) ends here: the parent then sees a non-2xx answer and stops.
app.use((error: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
  res.status(error.status ?? 500).end();
  done();
});

const server: Server = await new Promise((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s));
});
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no port');
process.send!({ type: 'ready', port: address.port });

process.on('message', async (message: { type: string }) => {
  if (message.type !== 'stop') return;
  // The load generator is done; requests it abandoned may still be in a handler, and their
  // statements count: let them finish before the pool closes.
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  let cache: ServerStats['cache'];
  if (auth) {
    await auth.close(); // flushes pending touches: their UPDATEs belong to this run
    const s = auth.stats();
    cache = {
      hits: s.hits,
      misses: s.misses,
      l2Hits: s.l2Hits,
      storeQueries: s.storeQueries,
      touchBatches: s.touchBatches,
    };
    selects = s.storeQueries;
    updates = s.touchBatches;
  }
  if (redis) {
    await deleteKeys(redis, process.env.BENCH_REDIS_PREFIX!);
    await redis.quit();
  }
  const stats: ServerStats = { type: 'stats', served, selects, updates, cache };
  await new Promise<void>((resolve) => process.send!(stats, () => resolve()));
  await pool.end();
  process.disconnect();
});
