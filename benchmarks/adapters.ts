// The request path without the network: credential extraction, the authenticator, and a Hono app
// driven by app.request() (no sockets), on a warm L1, next to the same app with no auth and with
// an async no-op middleware. ns per call, rounds interleaved, median.
//
// Run: npx -y pnpm@10 bench adapters
import {
  createAuthCache,
  createAuthenticator,
  extractBearer,
  generateToken,
  type Identity,
  type TokenStore,
} from '@authcache/core';
import { patAuth } from '@authcache/hono';
import { Hono } from 'hono';

const ROUNDS = 7;

async function nsPerOp(fn: () => unknown, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const r = fn();
    if (r instanceof Promise) await r;
  }
  return Number(process.hrtime.bigint() - start) / n;
}

export async function benchAdapters(): Promise<void> {
  const tokens = Array.from({ length: 1000 }, () => generateToken('pat'));
  const identities = new Map<string, Identity>();
  const store: TokenStore = {
    findByHash: async (_kind, tokenHash) => identities.get(tokenHash) ?? null,
    touch: async () => {},
    revoke: async () => [],
  };
  const auth = createAuthCache({ store, ttl: 3_600_000 });
  tokens.forEach((token, i) => {
    identities.set(auth.hashToken(token), {
      kind: 'pat',
      tokenId: String(i),
      subject: `user-${i}`,
      scopes: ['read'],
      expiresAt: null,
      name: `token ${i}`,
    });
  });
  for (const token of tokens) {
    const result = await auth.resolve('pat', token);
    if (!result.ok) throw new Error('benchmark setup failed');
  }
  const headers = tokens.map((t) => `Bearer ${t}`);
  let i = 0;
  const nextHeader = () => headers[i++ % headers.length]!;

  const authenticate = createAuthenticator({ auth, kinds: ['pat'] });

  const app = (kind: 'none' | 'control' | 'patAuth') => {
    const a = new Hono();
    if (kind === 'control') {
      a.use(async (c, next) => {
        await Promise.resolve();
        c.set('auth', undefined);
        await next();
      });
    } else if (kind === 'patAuth') {
      a.use(patAuth({ auth }));
    }
    a.get('/api/me', (c) => c.json({ subject: c.var.auth?.subject ?? 'anonymous' }));
    return a;
  };
  const apps = {
    none: app('none'),
    control: app('control'),
    patAuth: app('patAuth'),
  };
  const request = (a: Hono) => () =>
    a.request('http://localhost/api/me', { headers: { authorization: nextHeader() } });

  const cases: Record<string, [() => unknown, number]> = {
    'extractBearer(header)': [() => extractBearer(nextHeader()), 1_000_000],
    'auth.peek() (sync)': [() => auth.peek('pat', nextHeader().slice(7)), 300_000],
    'auth.resolve() (awaited)': [() => auth.resolve('pat', nextHeader().slice(7)), 300_000],
    'authenticator.request() (answered by peek)': [
      () => authenticate.request(nextHeader()),
      300_000,
    ],
    'authenticate({ authorization }) (promise form)': [
      () => authenticate({ authorization: nextHeader() }),
      300_000,
    ],
    'hono app.request: no auth': [request(apps.none), 30_000],
    'hono app.request: async no-op (control)': [request(apps.control), 30_000],
    'hono app.request: patAuth': [request(apps.patAuth), 30_000],
  };
  const samples = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, [fn, n]] of Object.entries(cases)) {
      samples.get(name)!.push(await nsPerOp(fn, r === 0 ? Math.ceil(n / 10) : n));
    }
  }
  await auth.close();
  const median = (xs: number[]) => {
    const s = xs.slice(1).sort((a, b) => a - b); // round 0 is a short warm-up
    return s[Math.floor(s.length / 2)]!;
  };
  const table: Record<string, Record<string, string>> = {};
  for (const [name, xs] of samples) table[name] = { 'ns/op': median(xs).toFixed(0) };
  console.log(
    `\nadapters: the request path without the network, 1000 tokens cycled, warm L1 ` +
      `(${ROUNDS - 1} rounds after a warm-up round, interleaved, median)`,
  );
  console.table(table);
}
