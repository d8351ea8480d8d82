// Framework benchmark: GET /api/me on Express 5, Koa 3 and Hono (@hono/node-server), each behind
// no auth (the ceiling), an async no-op middleware (the control: what any async auth middleware
// costs on that framework), the framework's static bearer compare, authcache's patAuth on a warm
// L1, patAuth with the Redis tier, and an uncached SELECT + UPDATE per request.
//
// Every server runs in its own child process (frameworks-server.ts); autocannon loads it from this
// process over loopback. Variants take turns each round; the server's CPU time per request comes
// from process.cpuUsage() in the server, sampled over IPC between rounds (never during load).
//
// Run: npx -y pnpm@10 bench frameworks   (and `bench ttl`; env: see docs/benchmarks.md)
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { createPgTokenStore, migrate } from '@authcache/pg';
import autocannon from 'autocannon';
import pg from 'pg';
import { type FrameSelf, summariseProfile } from './cpu-profile.js';
import { envNumber } from './env.js';
import type { Framework, FrameworkVariant, SampleMessage } from './frameworks-server.js';
import { loadRedisTier } from './redis-tier.js';

function envList<T extends string>(name: string, known: readonly T[], fallback: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return [...fallback];
  const list = raw.split(',').map((s) => s.trim()) as T[];
  for (const item of list) {
    if (!known.includes(item)) throw new Error(`${name}: unknown "${item}"; known: ${known}`);
  }
  return list;
}

const FRAMEWORKS = ['express', 'koa', 'hono'] as const satisfies readonly Framework[];
const VARIANTS = [
  'none',
  'control',
  'static',
  'authcache',
  'authcache-redis',
  'db',
  'control-header',
  'control-sync',
] as const satisfies readonly FrameworkVariant[];
/** `control-header` and `control-sync` (finer controls) run only when named in BENCH_VARIANTS. */
const DEFAULT_VARIANTS = VARIANTS.filter((v) => v !== 'control-header' && v !== 'control-sync');

const LABELS: Record<FrameworkVariant, string> = {
  none: 'no auth (ceiling)',
  control: 'async no-op middleware (control)',
  'control-header': 'control + read Authorization',
  'control-sync': 'sync no-op middleware',
  static: 'static bearer compare',
  authcache: 'patAuth, warm L1',
  'authcache-redis': 'patAuth + Redis tier',
  'authcache-ttl': 'patAuth, ttl short',
  'authcache-long-ttl': 'patAuth, ttl > run',
  db: 'uncached SELECT + UPDATE',
};

const config = {
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  connections: envNumber('BENCH_CONNECTIONS', 50),
  tokens: envNumber('BENCH_TOKENS', 1000),
  poolSize: envNumber('BENCH_POOL_SIZE', 10),
  profileDir: process.env.BENCH_PROFILE_DIR || undefined,
};

/** One variant's server: a child process answering on `port`. */
interface Running {
  framework: Framework;
  variant: FrameworkVariant;
  label: string;
  port: number;
  /** Tokens the load generator cycles through (one, for the static compare). */
  tokens: readonly string[];
  child: ChildProcess;
}

function ask<T>(child: ChildProcess, message: object, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: { type: string }) => {
      if (reply.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(reply as T);
    };
    const onExit = (code: number) => reject(new Error(`server exited with ${code}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

async function start(
  framework: Framework,
  variant: FrameworkVariant,
  env: Record<string, string>,
  tokens: readonly string[],
  label = `${framework}: ${LABELS[variant]}`,
): Promise<Running> {
  const child = fork(new URL('./frameworks-server.ts', import.meta.url), [], {
    execArgv: ['--conditions=source', '--import', 'tsx'],
    env: {
      ...process.env,
      ...env,
      BENCH_FRAMEWORK: framework,
      BENCH_VARIANT: variant,
      BENCH_POOL_SIZE: String(config.poolSize),
      DATABASE_URL: config.databaseUrl,
      REDIS_URL: config.redisUrl,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const [ready] = (await Promise.race([
    once(child, 'message'),
    exited.then(([code]) => {
      throw new Error(`${label}: server exited with ${code} before listening`);
    }),
  ])) as [{ port: number }];
  return { framework, variant, label, port: ready.port, tokens, child };
}

async function stop(server: Running): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.send({ type: 'stop' });
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  if (server.child.exitCode === null) server.child.kill();
}

type Requests = { method: 'GET'; path: string; headers: Record<string, string> }[];
const sharesCache = new WeakMap<readonly string[], Requests[]>();

/** `tokens` split into `connections` request lists, each token in exactly one. */
function shareTokens(tokens: readonly string[], connections: number): Requests[] {
  let shares = sharesCache.get(tokens);
  if (!shares) {
    const n = Math.min(connections, tokens.length);
    shares = Array.from({ length: n }, () => [] as Requests);
    tokens.forEach((token, i) => {
      shares![i % n]!.push({
        method: 'GET',
        path: '/api/me',
        headers: { authorization: `Bearer ${token}` },
      });
    });
    sharesCache.set(tokens, shares);
  }
  return shares;
}

/** One request per token, 20 at a time: every cache holds every token before any measurement. */
async function prime(server: Running): Promise<void> {
  const queue = [...server.tokens];
  const worker = async () => {
    for (let token = queue.pop(); token !== undefined; token = queue.pop()) {
      const res = await fetch(`http://127.0.0.1:${server.port}/api/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${server.label}: priming answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
}

export interface RoundResult {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU (user + system) per request answered, µs. */
  cpu: number;
  /** Store queries of the auth cache during the round. */
  storeQueries?: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** One load run of `seconds` on `server`, with server CPU sampled before and after. */
export async function round(server: Running, seconds: number): Promise<RoundResult> {
  // Each connection cycles through its own share of the tokens (1000 tokens over 50 connections:
  // 20 each), so that together they cycle through every token, and each autocannon client
  // prebuilds only its share (building every token's request for every connection would stall
  // the start of each round).
  const shares = shareTokens(server.tokens, config.connections);
  let clients = 0;
  const latencies: number[] = [];
  const before = await ask<SampleMessage>(server.child, { type: 'sample' }, 'sample');
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${server.port}`,
        connections: config.connections,
        duration: seconds,
        requests: shares[0]!,
        setupClient: (client) => {
          const share = shares[clients++ % shares.length]!;
          if (share !== shares[0]) client.setRequests(share);
        },
      },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
  });
  const after = await ask<SampleMessage>(server.child, { type: 'sample' }, 'sample');
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(
      `${server.label}: load run failed: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
    );
  }
  latencies.sort((a, b) => a - b);
  const served = after.served - before.served;
  return {
    rps: result.requests.total / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpu: served > 0 ? (after.cpu - before.cpu) / served : NaN,
    storeQueries:
      after.cache && before.cache
        ? after.cache.storeQueries - before.cache.storeQueries
        : undefined,
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (xs: readonly number[], digits: number) =>
  `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

/** A fresh schema holding `count` PATs; returns their tokens. */
async function setupTokens(schema: string, count: number, appName: string): Promise<string[]> {
  const setup = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 4,
    application_name: appName,
  });
  try {
    await migrate(setup, { schema });
    const store = createPgTokenStore({ db: setup, schema });
    const tokens: string[] = [];
    for (let i = 0; i < count; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, j) =>
          store.createPat({ userId: `user-${i + j}`, name: `bench-${i + j}` }),
        ),
      );
      tokens.push(...batch.map((c) => c.token));
    }
    return tokens;
  } finally {
    await setup.end();
  }
}

async function redisMissing(): Promise<string | null> {
  const loaded = await loadRedisTier();
  if (!loaded) return '@authcache/redis is not in this checkout';
  try {
    const redis = await loaded.connect(config.redisUrl);
    redis.disconnect();
    return null;
  } catch (error) {
    return `Redis at ${config.redisUrl} did not answer (${(error as Error).message})`;
  }
}

const load1 = () => loadavg()[0]!.toFixed(2);

async function withSchema<T>(
  runId: string,
  body: (schema: string, tokens: string[]) => Promise<T>,
): Promise<T> {
  const schema = `authcache_bench_${runId}`;
  const admin = new pg.Client({ connectionString: config.databaseUrl });
  await admin.connect();
  try {
    const tokens = await setupTokens(schema, config.tokens, `authcache-bench-${runId}-setup`);
    return await body(schema, tokens);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

export async function benchFrameworks(): Promise<void> {
  const frameworks = envList('BENCH_FRAMEWORKS', FRAMEWORKS, FRAMEWORKS);
  const variants = envList('BENCH_VARIANTS', VARIANTS, DEFAULT_VARIANTS);
  const rounds = envNumber('BENCH_ROUNDS', 6);
  const seconds = envNumber('BENCH_ROUND_SECONDS', 1);
  const warmup = envNumber('BENCH_WARMUP', 1);
  const notes: string[] = [];
  if (variants.includes('authcache-redis')) {
    const missing = await redisMissing();
    if (missing) {
      variants.splice(variants.indexOf('authcache-redis'), 1);
      notes.push(`skipped "${LABELS['authcache-redis']}": ${missing}`);
    }
  }
  const runId = `fw_${process.pid}_${randomBytes(3).toString('hex')}`;
  const startedAt = new Date();
  const loadBefore = load1();
  await withSchema(runId, async (schema, tokens) => {
    const staticToken = randomBytes(24).toString('base64url');
    const servers: Running[] = [];
    try {
      // Started together (each takes a second or two to compile its sources), then loaded in turn.
      const started = await Promise.allSettled(
        frameworks.flatMap((framework) =>
          variants.map((variant) =>
            start(
              framework,
              variant,
              {
                BENCH_SCHEMA: schema,
                BENCH_STATIC_TOKEN: staticToken,
                BENCH_APP_NAME: `authcache-bench-${runId}-${framework}-${variant}`,
                BENCH_REDIS_PREFIX: `authcache-bench:${runId}:${framework}:`,
              },
              variant === 'static' ? [staticToken] : tokens,
            ),
          ),
        ),
      );
      for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) throw failed.reason;
      // Warm-up: every token is loaded into every cache, and the JIT has seen the route.
      for (const server of servers) await prime(server);
      for (const server of servers) await round(server, warmup);
      if (config.profileDir) {
        await mkdir(config.profileDir, { recursive: true });
        for (const server of servers) {
          const sample = await ask<SampleMessage>(server.child, { type: 'sample' }, 'sample');
          profiledFrom.set(server, sample.served);
          await ask(server.child, { type: 'profile', action: 'start' }, 'profile');
        }
      }
      const results = new Map<Running, RoundResult[]>(servers.map((s) => [s, []]));
      for (let r = 0; r < rounds; r++) {
        for (const server of servers) results.get(server)!.push(await round(server, seconds));
      }
      const served = new Map<Running, number>();
      if (config.profileDir) {
        for (const server of servers) {
          const file = resolvePath(
            join(config.profileDir, `${server.framework}-${server.variant}.cpuprofile`),
          );
          const sample = await ask<SampleMessage>(server.child, { type: 'sample' }, 'sample');
          served.set(server, sample.served);
          await ask(server.child, { type: 'profile', action: 'stop', file }, 'profile');
        }
      }
      const loadAfter = load1();
      console.log(
        `\nframeworks: GET /api/me, ${config.tokens} PATs cycled (static compare: 1 token), ` +
          `${config.connections} connections, every token primed, ${warmup} s warm-up + ${rounds} rounds × ${seconds} s ` +
          `per variant, variants take turns each round; each server in its own process; ` +
          `started ${startedAt.toISOString()}, load average ${loadBefore} → ${loadAfter}`,
      );
      console.log(
        'median over rounds (min–max); CPU = server user+system µs per request; ' +
          '÷ ceiling and ÷ control are req/s ratios; Δ CPU = CPU − control CPU',
      );
      for (const framework of frameworks) {
        const rows = servers.filter((s) => s.framework === framework);
        const med = (s: Running, k: keyof RoundResult) =>
          median(results.get(s)!.map((x) => x[k] as number));
        const ceiling = rows.find((s) => s.variant === 'none');
        const control = rows.find((s) => s.variant === 'control');
        const table: Record<string, Record<string, string>> = {};
        for (const s of rows) {
          const rs = results.get(s)!;
          table[LABELS[s.variant]] = {
            'req/s': `${med(s, 'rps').toFixed(0)} (${range(
              rs.map((x) => x.rps),
              0,
            )})`,
            'p50 ms': med(s, 'p50').toFixed(2),
            'p99 ms': `${med(s, 'p99').toFixed(1)} (${range(
              rs.map((x) => x.p99),
              1,
            )})`,
            'CPU µs/req': `${med(s, 'cpu').toFixed(1)} (${range(
              rs.map((x) => x.cpu),
              1,
            )})`,
            '÷ ceiling': ceiling ? (med(s, 'rps') / med(ceiling, 'rps')).toFixed(2) : '-',
            '÷ control': control ? (med(s, 'rps') / med(control, 'rps')).toFixed(2) : '-',
            'Δ CPU µs': control ? (med(s, 'cpu') - med(control, 'cpu')).toFixed(1) : '-',
          };
        }
        console.log(`\n${framework}`);
        console.table(table);
      }
      if (config.profileDir) {
        await printProfiles(servers, served, config.profileDir);
      }
      for (const note of notes) console.log(`note: ${note}`);
    } finally {
      for (const server of servers) await stop(server);
    }
  });
}

/** Self time per request of the top frames and of each owner, from the measured rounds. */
async function printProfiles(
  servers: Running[],
  served: Map<Running, number>,
  dir: string,
): Promise<void> {
  const top = envNumber('BENCH_PROFILE_TOP', 12);
  console.log(
    `\nCPU profiles of the measured rounds (written to ${dir}), self time per request, µs ` +
      '(sampling profiler: the numbers include its overhead; (idle) excluded)',
  );
  for (const server of servers) {
    if (!['authcache', 'control'].includes(server.variant)) continue;
    const file = join(dir, `${server.framework}-${server.variant}.cpuprofile`);
    const frames = (await summariseProfile(file)).filter((f) => f.name !== '(idle)');
    // Requests counted over the profiled rounds only: the profile started after the warm-up.
    const requests = served.get(server)! - (profiledFrom.get(server) ?? 0);
    const per = (f: FrameSelf) => f.self / requests;
    const total = frames.reduce((sum, f) => sum + f.self, 0) / requests;
    const owners = new Map<string, number>();
    for (const f of frames) owners.set(f.owner, (owners.get(f.owner) ?? 0) + per(f));
    console.log(
      `\n${server.label}: ${requests} requests profiled, ${total.toFixed(1)} µs/req on CPU; by owner: ` +
        [...owners]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([o, v]) => `${o} ${v.toFixed(1)}`)
          .join(', '),
    );
    const table: Record<string, Record<string, string>> = {};
    for (const f of frames.slice(0, top)) {
      table[`${f.name} ${f.where}`.slice(0, 80)] = {
        owner: f.owner,
        'µs/req': per(f).toFixed(2),
        '%': ((100 * per(f)) / total).toFixed(1),
      };
    }
    console.table(table);
  }
}

/** Requests a server had answered when its profile started (after the warm-up). */
const profiledFrom = new Map<Running, number>();

/**
 * The TTL run: the same authcache route under load for several TTL windows, with (a) `ttl`
 * BENCH_TTL_MS (other options default) and (b) a TTL longer than the run, side by side, rounds
 * interleaved, p99 per round. Shows what a TTL ending under load costs the requests of that round.
 */
export async function benchTtl(): Promise<void> {
  const framework = envList('BENCH_FRAMEWORKS', FRAMEWORKS, ['express'])[0]!;
  const ttlMs = envNumber('BENCH_TTL_MS', 10_000);
  const duration = envNumber('BENCH_TTL_DURATION', 60);
  const seconds = envNumber('BENCH_ROUND_SECONDS', 5);
  const rounds = Math.max(1, Math.round(duration / seconds));
  const runId = `ttl_${process.pid}_${randomBytes(3).toString('hex')}`;
  const loadBefore = load1();
  await withSchema(runId, async (schema, tokens) => {
    const env = (variant: string) => ({
      BENCH_SCHEMA: schema,
      BENCH_STATIC_TOKEN: 'unused',
      BENCH_APP_NAME: `authcache-bench-${runId}-${variant}`,
      BENCH_REDIS_PREFIX: `authcache-bench:${runId}:${variant}:`,
    });
    const short = await start(
      framework,
      'authcache-ttl',
      { ...env('short'), BENCH_TTL_MS: String(ttlMs) },
      tokens,
      `ttl ${ttlMs / 1000} s`,
    );
    const long = await start(
      framework,
      'authcache-long-ttl',
      { ...env('long'), BENCH_TTL_MS: String(24 * 3_600_000) },
      tokens,
      'ttl 24 h (> run)',
    );
    try {
      await prime(short);
      await prime(long);
      await round(short, 1);
      await round(long, 1);
      const table: Record<string, Record<string, string>> = {};
      const p99s: [number[], number[]] = [[], []];
      for (let r = 0; r < rounds; r++) {
        const a = await round(short, seconds);
        const b = await round(long, seconds);
        p99s[0].push(a.p99);
        p99s[1].push(b.p99);
        table[`round ${r + 1}`] = {
          [`${short.label}: p99 ms`]: a.p99.toFixed(1),
          'store queries': String(a.storeQueries ?? '-'),
          'req/s': a.rps.toFixed(0),
          [`${long.label}: p99 ms`]: b.p99.toFixed(1),
          'store queries ': String(b.storeQueries ?? '-'),
          'req/s ': b.rps.toFixed(0),
        };
      }
      console.log(
        `\nttl: ${framework}, patAuth warm, ${config.tokens} PATs cycled, ${config.connections} ` +
          `connections, ${rounds} rounds × ${seconds} s per variant, interleaved (wall clock ≈ ` +
          `${2 * rounds * seconds} s); load average ${loadBefore} → ${load1()}`,
      );
      console.table(table);
      console.log(
        `p99 median (max): ${short.label} ${median(p99s[0]).toFixed(1)} (${Math.max(...p99s[0]).toFixed(1)}) ms, ` +
          `${long.label} ${median(p99s[1]).toFixed(1)} (${Math.max(...p99s[1]).toFixed(1)}) ms`,
      );
    } finally {
      await stop(short);
      await stop(long);
    }
  });
}
