// One server of `bench instructions`, run under callgrind by `instructions.ts`: the same route on
// Express 5, Koa 3 or Hono (node-server) behind one of four middlewares, on a warm in-process
// cache (an in-memory store: after priming, a warm hit never reaches a store anyway).
// BENCH_FRAMEWORK, BENCH_VARIANT, BENCH_TOKENS_FILE (JSON array of PATs), PORT. Prints
// `listening` on stdout when it answers.
import { readFileSync } from 'node:fs';
import { createAuthCache, type Identity, type TokenStore } from '@authcache/core';
import { patAuth as expressPatAuth } from '@authcache/express';
import { patAuth as honoPatAuth } from '@authcache/hono';
import { patAuth as koaPatAuth } from '@authcache/koa';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';

export type InstructionsVariant = 'none' | 'control' | 'header' | 'authcache';

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

function honoServer() {
  const app = new Hono<{ Variables: { auth?: Who } }>();
  if (variant === 'control' || variant === 'header') {
    app.use(async (c, next) => {
      // `header`: the control plus the one header read any bearer middleware must do.
      if (variant === 'header') c.req.header('authorization');
      await Promise.resolve();
      c.set('auth', CONTROL);
      await next();
    });
  } else if (variant === 'authcache') {
    app.use(honoPatAuth({ auth }) as never);
  }
  app.get('/api/me', (c) => c.json({ subject: c.get('auth')?.subject ?? 'anonymous' }));
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, ready);
}

function expressServer() {
  const app = express();
  if (variant === 'control' || variant === 'header') {
    app.use(async (req, _res, next) => {
      if (variant === 'header') void req.headers.authorization;
      await Promise.resolve();
      (req as { who?: Who }).who = CONTROL;
      next();
    });
  } else if (variant === 'authcache') {
    app.use(expressPatAuth({ auth }));
  }
  app.get('/api/me', (req, res) => {
    const who = (req.auth ?? (req as { who?: Who }).who) as Who | undefined;
    res.json({ subject: who?.subject ?? 'anonymous' });
  });
  app.listen(port, '127.0.0.1', ready);
}

function koaServer() {
  const app = new Koa<{ auth?: Who; who?: Who }>();
  if (variant === 'control' || variant === 'header') {
    app.use(async (ctx, next) => {
      if (variant === 'header') void ctx.req.headers.authorization;
      await Promise.resolve();
      ctx.state.who = CONTROL;
      await next();
    });
  } else if (variant === 'authcache') {
    app.use(koaPatAuth({ auth }) as never);
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
