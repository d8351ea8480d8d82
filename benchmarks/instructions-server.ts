// One server of `bench instructions` (run under callgrind) and of `bench middleware` (run as is,
// with BENCH_TIME=1): the same route on Express 5, Koa 3 or Hono (node-server) behind one of the
// middlewares below, on a warm in-process cache (an in-memory store: after priming, a warm hit
// never reaches a store anyway). BENCH_FRAMEWORK, BENCH_VARIANT, BENCH_TOKENS_FILE (JSON array of
// PATs), PORT. Prints `listening` on stdout when it answers.
//
// BENCH_TIME=1 times each request's middleware in the server, from its call until it calls
// `next` (`process.hrtime.bigint()`, ≈ 40 ns a read), and `GET /__timing` answers the median and
// the 90th percentile in ns of the requests since the last `/__timing` (and starts over).
import { readFileSync } from 'node:fs';
import { createAuthCache, type Identity, type TokenStore } from '@authcache/core';
import { patAuth as expressPatAuth } from '@authcache/express';
import { patAuth as honoPatAuth } from '@authcache/hono';
import { patAuth as koaPatAuth } from '@authcache/koa';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';

/**
 * `none`: no middleware; `control`: an async no-op that sets the context variable; `header`: the
 * control plus the `Authorization` read; `read`: a synchronous middleware that reads the header
 * and sets the context variable; `hash`: the same, and it hashes the token (the one SHA-256 a warm request costs, and nothing else); `authcache`:
 * `patAuth`.
 */
export type InstructionsVariant = 'none' | 'control' | 'header' | 'read' | 'hash' | 'authcache';

const framework = process.env.BENCH_FRAMEWORK ?? 'hono';
const variant = (process.env.BENCH_VARIANT ?? 'authcache') as InstructionsVariant;
const port = Number(process.env.PORT ?? 0);
const tokens: string[] = JSON.parse(readFileSync(process.env.BENCH_TOKENS_FILE!, 'utf8'));

const identities = new Map<string, Identity>();
const store: TokenStore = {
  findByHash: async (_kind, tokenHash) => identities.get(tokenHash) ?? null,
  touch: async () => {},
  revoke: async () => [],
};
// A TTL longer than any run: every measured request is a warm L1 hit.
const auth = createAuthCache({ store, ttl: 24 * 3_600_000 });
tokens.forEach((token, i) => {
  identities.set(auth.hashToken(token), {
    kind: 'pat',
    tokenId: String(i),
    subject: `user-${String(i).padStart(4, '0')}`,
    scopes: [],
    expiresAt: null,
  });
});
for (const token of tokens) await auth.resolve('pat', token);

type Who = { subject: string };
/** The control's constant, the same length as the identities' subjects. */
const CONTROL: Who = Object.freeze({ subject: 'user-cccc' });

const timing = process.env.BENCH_TIME === '1';
const samples = new Float64Array(1 << 20);
let sampled = 0;

// Without BENCH_TIME the servers are exactly those `bench instructions` counted before it existed.

/**
 * With BENCH_TIME=1, `middleware` timed from its call until it calls its `next` (argument
 * `nextAt`); otherwise `middleware` itself.
 */
function timed<F extends (...args: never[]) => unknown>(middleware: F, nextAt: number): F {
  if (!timing) return middleware;
  return ((...args: unknown[]) => {
    const start = process.hrtime.bigint();
    const next = args[nextAt] as (...a: unknown[]) => unknown;
    args[nextAt] = (...a: unknown[]) => {
      if (sampled < samples.length) samples[sampled++] = Number(process.hrtime.bigint() - start);
      return next(...a);
    };
    return (middleware as unknown as (...a: unknown[]) => unknown)(...args);
  }) as unknown as F;
}

/** `/__timing`: median and p90 (ns) since the last call, then start over. */
function timingReport(): string {
  const sorted = Array.from(samples.subarray(0, sampled)).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const report = JSON.stringify({ count: sorted.length, median: at(0.5), p90: at(0.9) });
  sampled = 0;
  return report;
}

/** `read` and `hash`: the header read, and for `hash` the token's SHA-256 as the cache makes it. */
function readOnly(authorization: string | undefined): boolean {
  if (authorization === undefined) return false;
  return variant !== 'hash' || auth.hashToken(authorization.slice(7)).length > 0;
}

function honoServer() {
  const app = new Hono<{ Variables: { auth?: Who } }>();
  if (timing) app.get('/__timing', (c) => c.text(timingReport()));
  if (variant === 'control' || variant === 'header') {
    app.use(
      timed(async (c, next) => {
        // `header`: the control plus the one header read any bearer middleware must do.
        if (variant === 'header') c.req.header('authorization');
        await Promise.resolve();
        c.set('auth', CONTROL);
        await next();
      }, 1),
    );
  } else if (variant === 'read' || variant === 'hash') {
    app.use(
      timed((c, next) => {
        if (!readOnly(c.req.header('authorization'))) return Promise.resolve(c.body(null, 401));
        c.set('auth', CONTROL);
        return next();
      }, 1),
    );
  } else if (variant === 'authcache') {
    app.use(timed(honoPatAuth({ auth }), 1) as never);
  }
  app.get('/api/me', (c) => c.json({ subject: c.get('auth')?.subject ?? 'anonymous' }));
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, ready);
}

function expressServer() {
  const app = express();
  if (timing) {
    app.get('/__timing', (_req, res) => {
      res.send(timingReport());
    });
  }
  if (variant === 'control' || variant === 'header') {
    app.use(
      timed(async (req: express.Request, _res: express.Response, next: express.NextFunction) => {
        if (variant === 'header') void req.headers.authorization;
        await Promise.resolve();
        (req as { who?: Who }).who = CONTROL;
        next();
      }, 2),
    );
  } else if (variant === 'read' || variant === 'hash') {
    app.use(
      timed((req: express.Request, res: express.Response, next: express.NextFunction) => {
        if (!readOnly(req.headers.authorization)) return void res.sendStatus(401);
        (req as { who?: Who }).who = CONTROL;
        next();
      }, 2),
    );
  } else if (variant === 'authcache') {
    app.use(timed(expressPatAuth({ auth }), 2));
  }
  app.get('/api/me', (req, res) => {
    const who = (req.auth ?? (req as { who?: Who }).who) as Who | undefined;
    res.json({ subject: who?.subject ?? 'anonymous' });
  });
  app.listen(port, '127.0.0.1', ready);
}

function koaServer() {
  const app = new Koa<{ auth?: Who; who?: Who }>();
  if (timing) {
    app.use((ctx, next) => {
      if (ctx.path !== '/__timing') return next();
      ctx.body = timingReport();
    });
  }
  if (variant === 'control' || variant === 'header') {
    app.use(
      timed(async (ctx: Koa.ParameterizedContext<{ who?: Who }>, next: Koa.Next) => {
        if (variant === 'header') void ctx.req.headers.authorization;
        await Promise.resolve();
        ctx.state.who = CONTROL;
        await next();
      }, 1),
    );
  } else if (variant === 'read' || variant === 'hash') {
    app.use(
      timed((ctx: Koa.ParameterizedContext<{ who?: Who }>, next: Koa.Next) => {
        if (!readOnly(ctx.req.headers.authorization)) {
          ctx.status = 401;
          return;
        }
        ctx.state.who = CONTROL;
        return next();
      }, 1),
    );
  } else if (variant === 'authcache') {
    app.use(timed(koaPatAuth({ auth }), 1) as never);
  }
  app.use((ctx) => {
    ctx.body = { subject: (ctx.state.auth ?? ctx.state.who)?.subject ?? 'anonymous' };
  });
  app.listen(port, '127.0.0.1', ready);
}

function ready() {
  console.log('listening');
}

if (framework === 'express') expressServer();
else if (framework === 'koa') koaServer();
else honoServer();
process.on('SIGTERM', () => process.exit(0));
