// What the middleware itself costs inside a loaded server: each request's middleware is timed in
// the server process, from its call until it calls `next` (process.hrtime.bigint()), while
// autocannon loads the server from this process. Next to a synchronous control that reads the
// header and sets the context variable, and to the same plus the token's SHA-256 (the one hash a
// warm request costs). (An async control would be timed across its `await`, during which other
// requests run: a latency, not a cost.) Medians over rounds of per-round medians; each round a fresh server.
//
// A loaded server runs the same code much slower than a loop does: between two requests the
// parser, the framework and the socket writes have evicted what the middleware's code and data
// had in the CPU caches. This benchmark measures the middleware there, where it runs.
//
// Run: npx -y pnpm@10 bench middleware   (BENCH_FRAMEWORKS, BENCH_ROUNDS (3),
// BENCH_WARM_REQUESTS (20000), BENCH_REQUESTS (60000), BENCH_CONNECTIONS (50), BENCH_TOKENS (1000))
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateToken } from '@authcache/core';
import { envNumber } from './env.js';
import { load, startServer } from './instructions.js';
import type { InstructionsVariant } from './instructions-server.js';

const VARIANTS = ['read', 'hash', 'authcache'] as const satisfies readonly InstructionsVariant[];
const LABELS: Record<(typeof VARIANTS)[number], string> = {
  read: 'sync control: read Authorization, set the variable',
  hash: 'the same + SHA-256 of the token',
  authcache: 'patAuth, warm L1',
};

const config = {
  frameworks: (process.env.BENCH_FRAMEWORKS ?? 'express,koa,hono').split(','),
  rounds: envNumber('BENCH_ROUNDS', 3),
  warm: envNumber('BENCH_WARM_REQUESTS', 20_000),
  requests: envNumber('BENCH_REQUESTS', 60_000),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  tokens: envNumber('BENCH_TOKENS', 1000),
};

interface Timing {
  count: number;
  median: number;
  p90: number;
}

async function timing(port: number): Promise<Timing> {
  const res = await fetch(`http://127.0.0.1:${port}/__timing`);
  return (await res.json()) as Timing;
}

async function measure(
  framework: string,
  variant: InstructionsVariant,
  tokensFile: string,
  tokens: readonly string[],
): Promise<Timing> {
  const { child, port } = await startServer({
    BENCH_FRAMEWORK: framework,
    BENCH_VARIANT: variant,
    BENCH_TOKENS_FILE: tokensFile,
    BENCH_TIME: '1',
  });
  try {
    await load(port, tokens, config.warm, config.connections);
    await timing(port);
    const served = await load(port, tokens, config.requests, config.connections);
    const result = await timing(port);
    if (result.count !== served) {
      throw new Error(`${framework}/${variant}: ${result.count} timed for ${served} served`);
    }
    return result;
  } finally {
    child.kill('SIGTERM');
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function benchMiddleware(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'authcache-middleware-'));
  try {
    const tokens = Array.from({ length: config.tokens }, () => generateToken('pat'));
    const tokensFile = join(dir, 'tokens.json');
    await writeFile(tokensFile, JSON.stringify(tokens));
    console.log(
      `\nmiddleware: GET /api/me, ${tokens.length} PATs cycled over ${config.connections} ` +
        `connections; each middleware timed in the server from its call to its next(), ` +
        `${config.requests} requests after ${config.warm} warm-up, ${config.rounds} rounds ` +
        `(a fresh server each, variants taking turns); medians of the rounds' medians, ns`,
    );
    for (const framework of config.frameworks) {
      const results = new Map<string, Timing[]>(VARIANTS.map((v) => [v, []]));
      for (let round = 0; round < config.rounds; round++) {
        for (const variant of VARIANTS) {
          results.get(variant)!.push(await measure(framework, variant, tokensFile, tokens));
        }
      }
      const control = median(results.get('read')!.map((t) => t.median));
      const table: Record<string, Record<string, string>> = {};
      for (const variant of VARIANTS) {
        const runs = results.get(variant)!;
        const medians = runs.map((t) => t.median);
        table[LABELS[variant]] = {
          'median ns': `${median(medians).toFixed(0)} (${Math.min(...medians)}–${Math.max(...medians)})`,
          'p90 ns': median(runs.map((t) => t.p90)).toFixed(0),
          'Δ control': (median(medians) - control).toFixed(0),
        };
      }
      console.log(`\n${framework}`);
      console.table(table);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
