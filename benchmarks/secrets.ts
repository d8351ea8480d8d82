// Secrets benchmark: requests per second of one protected Express route whose split tokens
// (`mul_<id>.<secret>`) keep their secrets under scrypt, verified on every request vs through
// authcache's verified-secret cache (@authcache/file + patAuth), side by side in one run; plus a
// CPU profile of each variant's measured rounds, to show where the slow hash is (and is not).
//
// Each variant is a child process (secrets-server.ts); autocannon loads it over loopback from
// this process, the variants taking turns round by round so that a busy machine slows both.
//
// Run: npx -y pnpm@10 bench secrets   (env: BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS,
//      BENCH_TOKENS, BENCH_SCRYPT_N; see docs/benchmarks.md)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTokenFormat, scryptVerifier } from '@authcache/core';
import { addTokenRow } from '@authcache/file';
import autocannon from 'autocannon';
import { summariseProfile } from './cpu-profile.js';
import { envNumber } from './env.js';
import type { SecretsSample, SecretsVariant } from './secrets-server.js';

const config = {
  /** Measured seconds of load per variant, split into `rounds`. */
  duration: envNumber('BENCH_DURATION', 10),
  rounds: envNumber('BENCH_ROUNDS', 5),
  warmup: envNumber('BENCH_WARMUP', 1),
  connections: envNumber('BENCH_CONNECTIONS', 20),
  /** Distinct tokens, rotated across requests. */
  tokens: envNumber('BENCH_TOKENS', 10),
  /** scrypt cost of the stored hashes (r = 8, p = 1). Default: scryptVerifier's, 2^15. */
  scryptN: envNumber('BENCH_SCRYPT_N', 2 ** 15),
};
const roundSeconds = Math.max(1, Math.round(config.duration / config.rounds));
const LABELS: Record<SecretsVariant, string> = {
  'scrypt-every-request': 'scrypt on every request',
  authcache: 'authcache verified-secret cache',
};

interface Server {
  variant: SecretsVariant;
  child: ReturnType<typeof fork>;
  url: string;
}

function ask<T>(server: Server, message: object, type: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (reply: { type: string }) => {
      if (reply.type !== type) return;
      server.child.off('message', onMessage);
      resolve(reply as T);
    };
    server.child.on('message', onMessage);
    server.child.send(message);
  });
}

async function start(variant: SecretsVariant, file: string): Promise<Server> {
  const child = fork(new URL('./secrets-server.ts', import.meta.url), [], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: {
      ...process.env,
      BENCH_VARIANT: variant,
      BENCH_TOKEN_FILE: file,
      BENCH_SCRYPT_N: String(config.scryptN),
    },
  });
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  return { variant, child, url: `http://127.0.0.1:${ready.port}/` };
}

function load(server: Server, tokens: string[], seconds: number) {
  return autocannon({
    url: server.url,
    connections: config.connections,
    duration: seconds,
    requests: tokens.map((token) => ({
      method: 'GET',
      headers: { authorization: `Bearer ${token}` },
    })),
  });
}

export async function benchSecrets(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'authcache-bench-secrets-'));
  const file = join(dir, 'tokens.json');
  const format = createTokenFormat({ pat: { prefix: 'mul_', split: true } });
  const hasher = scryptVerifier({ N: config.scryptN, r: 8, p: 1 });
  const tokens: string[] = [];
  for (let i = 0; i < config.tokens; i++) {
    const { token, id, secret } = format.generateSplit('pat');
    await addTokenRow(file, {
      id,
      kind: 'pat',
      subject: `user-${i}`,
      secretHash: await hasher.hash!(secret),
    });
    tokens.push(token);
  }
  const servers = [await start('scrypt-every-request', file), await start('authcache', file)];
  try {
    // One cold request per token (authcache verifies each once here), then a warm-up.
    for (const server of servers) {
      for (const token of tokens) {
        const res = await fetch(server.url, { headers: { authorization: `Bearer ${token}` } });
        if (res.status !== 200)
          throw new Error(`${server.variant}: priming answered ${res.status}`);
      }
      await load(server, tokens, config.warmup);
    }
    const before = new Map<Server, SecretsSample>();
    for (const server of servers) {
      before.set(server, await ask<SecretsSample>(server, { type: 'sample' }, 'sample'));
      await ask(server, { type: 'profile', action: 'start' }, 'profile');
    }
    const results = new Map<
      Server,
      { requests: number; non2xx: number; p50: number[]; p99: number[] }
    >();
    for (let round = 0; round < config.rounds; round++) {
      for (const server of servers) {
        const r = await load(server, tokens, roundSeconds);
        const acc = results.get(server) ?? { requests: 0, non2xx: 0, p50: [], p99: [] };
        acc.requests += r.requests.total;
        acc.non2xx += r.non2xx;
        acc.p50.push(r.latency.p50);
        acc.p99.push(r.latency.p99);
        results.set(server, acc);
      }
    }
    const table: Record<string, Record<string, string | number>> = {};
    const rps = new Map<Server, number>();
    for (const server of servers) {
      const profile = join(dir, `${server.variant}.cpuprofile`);
      await ask(server, { type: 'profile', action: 'stop', file: profile }, 'profile');
      const after = await ask<SecretsSample>(server, { type: 'sample' }, 'sample');
      const start_ = before.get(server)!;
      const r = results.get(server)!;
      const served = after.served - start_.served;
      const seconds = config.rounds * roundSeconds;
      rps.set(server, r.requests / seconds);
      const frames = (await summariseProfile(profile)).filter((f) => f.name !== '(idle)');
      const onCpu = frames.reduce((sum, f) => sum + f.self, 0);
      const slowFrames = frames.filter(
        (f) => /scrypt/i.test(`${f.name} ${f.where}`) || f.where.includes('secrets/verifiers'),
      );
      const slowSelf = slowFrames.reduce((sum, f) => sum + f.self, 0);
      table[LABELS[server.variant]] = {
        'req/s': Math.round(r.requests / seconds),
        'p50 ms': Math.max(...r.p50),
        'p99 ms': Math.max(...r.p99),
        non2xx: r.non2xx,
        'slow hashes': after.slow - start_.slow,
        'slow hashes/req': served > 0 ? ((after.slow - start_.slow) / served).toFixed(3) : '-',
        'CPU µs/req (process)': served > 0 ? ((after.cpu - start_.cpu) / served).toFixed(0) : '-',
        'scrypt frames in profile (µs self)': `${slowFrames.length} (${slowSelf.toFixed(0)} of ${onCpu.toFixed(0)})`,
      };
    }
    console.log(
      `\nsecrets: scrypt N=${config.scryptN} r=8 p=1, ${config.tokens} tokens, ${config.connections} connections, ` +
        `${config.rounds} rounds × ${roundSeconds} s per variant (taking turns)`,
    );
    console.table(table);
    const ratio = rps.get(servers[1]!)! / rps.get(servers[0]!)!;
    console.log(
      `authcache / scrypt-every-request: ${ratio.toFixed(0)}× the requests per second (target ≥ 100×)`,
    );
    console.log(
      'scrypt runs on the libuv threadpool: "CPU µs/req" (process.cpuUsage, every thread) includes it, ' +
        'the profile (main thread) shows only the JS frames that start it; "slow hashes" counts every scrypt call.',
    );
  } finally {
    for (const server of servers) {
      server.child.send({ type: 'stop' });
      await once(server.child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  }
}
