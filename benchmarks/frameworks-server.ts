// One server of the framework benchmark (frameworks.ts): GET /api/me on Express 5, Koa 3 or
// Hono (@hono/node-server) behind one kind of authentication, run as a child process so that it
// has its own event loop while autocannon loads it from the parent. Not meant to be started by
// hand.
//
// Protocol (IPC), all outside the measured load:
//   child → { type: 'ready', port } once listening;
//   parent → { type: 'sample' }: child → { type: 'sample', cpu, served, cache } (cpu: user +
//     system µs from process.cpuUsage(), served: requests answered 200 so far);
//   parent → { type: 'profile', action: 'start' | 'stop', file }: CPU profile of this process
//     (node:inspector), written to `file` on stop;
//   parent → { type: 'stop' }: stop accepting, close everything, exit.
import { hash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import { type AuthCache, createAuthCache, extractBearer, nodeAuthorization } from '@authcache/core';
import { patAuth as expressPatAuth } from '@authcache/express';
import { patAuth as honoPatAuth } from '@authcache/hono';
import { patAuth as koaPatAuth } from '@authcache/koa';
import { createPgTokenStore } from '@authcache/pg';
import { serve } from '@hono/node-server';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth as honoBearerAuth } from 'hono/bearer-auth';
import Koa, { type Middleware } from 'koa';
import pg from 'pg';
import { handleProfileMessage } from './cpu-profile.js';
import { deleteKeys, loadRedisTier, type RedisClientLike } from './redis-tier.js';

export type Framework = 'express' | 'koa' | 'hono';
export type FrameworkVariant =
  | 'none'
  | 'control'
  | 'control-header'
  | 'control-sync'
  | 'static'
  | 'authcache'
  | 'authcache-redis'
  | 'authcache-ttl'
  | 'authcache-long-ttl'
  | 'db';

export interface SampleMessage {
  type: 'sample';
  /** process.cpuUsage() user + system, µs, since the process started. */
  cpu: number;
  served: number;
  cache?: { hits: number; misses: number; storeQueries: number };
}

const framework = process.env.BENCH_FRAMEWORK as Framework;
const variant = process.env.BENCH_VARIANT as FrameworkVariant;
const schema = process.env.BENCH_SCHEMA!;
const staticToken = process.env.BENCH_STATIC_TOKEN!;
/**
 * `ttl` of the authcache variants. `bench frameworks` measures the warm path, so unless
 * BENCH_TTL_MS says otherwise its entries outlive the whole run (a default 60 s TTL would end
 * mid-run and mix reloads into "warm L1"); `bench ttl` sets it to study exactly those reloads.
 */
const ttl = Number(process.env.BENCH_TTL_MS || 0) || 24 * 3_600_000;

/** What every variant puts where authcache puts its identity. */
type Who = { subject: string };
const STATIC: Who = Object.freeze({ subject: 'static' });
const CONTROL: Who = Object.freeze({ subject: 'control' });

let pool: pg.Pool | undefined;
let auth: AuthCache | undefined;
let redis: RedisClientLike | undefined;
let served = 0;

const needsDb = variant === 'db' || variant.startsWith('authcache');
if (needsDb) {
  pool = new pg.Pool({
    connectionString: process.env.DATABASE_URL,
    max: Number(process.env.BENCH_POOL_SIZE) || 10,
    application_name: process.env.BENCH_APP_NAME,
  });
}
if (variant.startsWith('authcache')) {
  const store = createPgTokenStore({ db: pool!, schema });
  let tier: Parameters<typeof createAuthCache>[0]['tier'];
  if (variant === 'authcache-redis') {
    const loaded = await loadRedisTier();
    if (!loaded) throw new Error('@authcache/redis is not in this checkout');
    redis = await loaded.connect(process.env.REDIS_URL!);
    tier = loaded.createRedisTier({ redis, prefix: process.env.BENCH_REDIS_PREFIX! });
  }
  auth = createAuthCache({ store, tier, ttl });
}

const table = `"${schema}".personal_access_token`;
/** The uncached check: SELECT the token row by hash, then UPDATE its last_used_at, awaited. */
async function lookup(authorization: string | undefined): Promise<Who | undefined> {
  const credential = extractBearer(authorization);
  if (!credential.ok) return undefined;
  const { rows } = await pool!.query<{ id: string; user_id: string }>(
    `SELECT id, user_id FROM ${table}
      WHERE token_hash = $1 AND NOT revoked AND (expires_at IS NULL OR expires_at > now())`,
    [hash('sha256', credential.token, 'hex')],
  );
  const row = rows[0];
  if (!row) return undefined;
  await pool!.query(`UPDATE ${table} SET last_used_at = now() WHERE id = $1`, [row.id]);
  return { subject: row.user_id };
}

const expected = Buffer.from(staticToken);
/** A constant-time compare of one configured bearer token (what express/koa apps hand-roll). */
function staticMatch(authorization: string | undefined): boolean {
  if (!authorization || authorization.length < 7) return false;
  if (authorization.slice(0, 7).toLowerCase() !== 'bearer ') return false;
  const given = Buffer.from(authorization.slice(7));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function expressApp() {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const deny = (res: Response) => res.status(401).end();
  const patAuth: express.RequestHandler = auth
    ? expressPatAuth({ auth })
    : (_req, _res, next) => next();
  const middleware: Record<FrameworkVariant, express.RequestHandler> = {
    none: (_req, _res, next) => next(),
    control: async (req, _res, next) => {
      await Promise.resolve();
      (req as { who?: Who }).who = CONTROL;
      next();
    },
    'control-header': async (req, _res, next) => {
      if (nodeAuthorization(req) === undefined) return void deny(_res);
      await Promise.resolve();
      (req as { who?: Who }).who = CONTROL;
      next();
    },
    'control-sync': (req, _res, next) => {
      (req as { who?: Who }).who = CONTROL;
      next();
    },
    static: (req, res, next) => {
      if (!staticMatch(req.headers.authorization)) return void deny(res);
      (req as { who?: Who }).who = STATIC;
      next();
    },
    authcache: patAuth,
    'authcache-redis': patAuth,
    'authcache-ttl': patAuth,
    'authcache-long-ttl': patAuth,
    db: (req, res, next) => {
      lookup(req.headers.authorization).then((who) => {
        if (!who) return void deny(res);
        (req as { who?: Who }).who = who;
        next();
      }, next);
    },
  };
  app.get('/api/me', middleware[variant], (req, res) => {
    served++;
    const who = (req.auth ?? (req as { who?: Who }).who) as Who | undefined;
    res.json({ subject: who?.subject ?? 'anonymous' });
  });
  app.use((error: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(error.status ?? 500).end();
  });
  return app;
}

function koaApp() {
  type State = { auth?: Who; who?: Who };
  const app = new Koa<State>();
  app.silent = true;
  const patAuth = (auth ? koaPatAuth({ auth }) : (_ctx, next) => next()) as Middleware<State>;
  const middleware: Record<FrameworkVariant, Middleware<State>> = {
    none: (_ctx, next) => next(),
    control: async (ctx, next) => {
      await Promise.resolve();
      ctx.state.who = CONTROL;
      await next();
    },
    'control-header': async (ctx, next) => {
      if (nodeAuthorization(ctx.req) === undefined) {
        ctx.status = 401;
        return;
      }
      await Promise.resolve();
      ctx.state.who = CONTROL;
      await next();
    },
    'control-sync': (ctx, next) => {
      ctx.state.who = CONTROL;
      return next();
    },
    static: (ctx, next) => {
      if (!staticMatch(ctx.req.headers.authorization)) {
        ctx.status = 401;
        return;
      }
      ctx.state.who = STATIC;
      return next();
    },
    authcache: patAuth,
    'authcache-redis': patAuth,
    'authcache-ttl': patAuth,
    'authcache-long-ttl': patAuth,
    db: async (ctx, next) => {
      const who = await lookup(ctx.req.headers.authorization);
      if (!who) {
        ctx.status = 401;
        return;
      }
      ctx.state.who = who;
      await next();
    },
  };
  app.use(middleware[variant]);
  app.use((ctx) => {
    if (ctx.method !== 'GET' || ctx.path !== '/api/me') {
      ctx.status = 404;
      return;
    }
    served++;
    const who = ctx.state.auth ?? ctx.state.who;
    ctx.body = { subject: who?.subject ?? 'anonymous' };
  });
  return app;
}

function honoApp() {
  type Env = { Variables: { auth: Who } };
  const app = new Hono<Env>();
  const patAuth = (auth
    ? honoPatAuth({ auth })
    : (_c: unknown, next: () => Promise<void>) => next()) as unknown as MiddlewareHandler<Env>;
  const middleware: Record<FrameworkVariant, MiddlewareHandler<Env>> = {
    none: (_c, next) => next(),
    control: async (c, next) => {
      await Promise.resolve();
      c.set('auth', CONTROL);
      await next();
    },
    'control-header': async (c, next) => {
      if (c.req.header('authorization') === undefined) return c.body(null, 401);
      await Promise.resolve();
      c.set('auth', CONTROL);
      await next();
    },
    'control-sync': (c, next) => {
      c.set('auth', CONTROL);
      return next();
    },
    static: honoBearerAuth({ token: staticToken || 'unused' }),
    authcache: patAuth,
    'authcache-redis': patAuth,
    'authcache-ttl': patAuth,
    'authcache-long-ttl': patAuth,
    db: async (c, next) => {
      const who = await lookup(c.req.header('authorization'));
      if (!who) return c.body(null, 401);
      c.set('auth', who);
      await next();
    },
  };
  app.get('/api/me', middleware[variant], (c) => {
    served++;
    return c.json({ subject: c.get('auth')?.subject ?? 'anonymous' });
  });
  return app;
}

const server: Server = await new Promise((resolve) => {
  if (framework === 'express') {
    const s = expressApp().listen(0, '127.0.0.1', () => resolve(s));
  } else if (framework === 'koa') {
    const s = koaApp().listen(0, '127.0.0.1', () => resolve(s));
  } else {
    const s = serve({ fetch: honoApp().fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    ) as Server;
  }
});
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no port');

function sample(): SampleMessage {
  const { user, system } = process.cpuUsage();
  const s = auth?.stats();
  return {
    type: 'sample',
    cpu: user + system,
    served,
    cache: s && { hits: s.hits, misses: s.misses, storeQueries: s.storeQueries },
  };
}

process.on(
  'message',
  async (message: { type: string; action?: 'start' | 'stop'; file?: string }) => {
    if (message.type === 'sample') {
      process.send!(sample());
    } else if (message.type === 'profile') {
      await handleProfileMessage(message.action!, message.file);
      process.send!({ type: 'profile', action: message.action });
    } else if (message.type === 'stop') {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await auth?.close();
      if (redis) {
        await deleteKeys(redis, process.env.BENCH_REDIS_PREFIX!);
        await redis.quit();
      }
      await pool?.end();
      process.exit(0);
    }
  },
);
process.send!({ type: 'ready', port: address.port } satisfies { type: string; port: number });
