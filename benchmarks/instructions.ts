// Instructions per request, counted by callgrind (valgrind): what a warm authenticated request
// costs in the server's user space, next to no auth, an async no-op middleware, and that control
// plus the one Authorization header read. A count of executed instructions, not a time: the same
// on a busy machine as on a quiet one, so small differences that wall-clock benchmarks lose in
// noise show up. Kernel time (the socket writes) is not in it.
//
// Run: npx -y pnpm@10 bench instructions   (needs valgrind; about 10 minutes per framework)
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateToken } from '@authcache/core';
import autocannon from 'autocannon';
import { envNumber } from './env.js';
import type { InstructionsVariant } from './instructions-server.js';

const VARIANTS: readonly InstructionsVariant[] = ['none', 'control', 'header', 'authcache'];
const LABELS: Record<InstructionsVariant, string> = {
  none: 'no auth (ceiling)',
  control: 'async no-op middleware (control)',
  header: 'control + read Authorization',
  read: 'sync: read Authorization, set the variable',
  hash: 'sync: read Authorization + SHA-256 only',
  authcache: 'patAuth, warm L1',
};

const config = {
  frameworks: (process.env.BENCH_FRAMEWORKS ?? 'express,koa,hono').split(','),
  warm: envNumber('BENCH_WARM_REQUESTS', 6000),
  requests: envNumber('BENCH_REQUESTS', 3000),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  tokens: envNumber('BENCH_TOKENS', 1000),
  windows: envNumber('BENCH_WINDOWS', 5),
};

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export async function load(
  port: number,
  tokens: readonly string[],
  amount: number,
  connections = config.connections,
): Promise<number> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    amount,
    timeout: 120,
    requests: tokens.map((token) => ({
      method: 'GET' as const,
      path: '/api/me',
      headers: { authorization: `Bearer ${token}` },
    })),
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(
      `load: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return result['2xx'];
}

/**
 * Starts one `instructions-server.ts` on a free port with `env` added, under `wrapper` when
 * given (e.g. valgrind and its options), and resolves once it listens. The caller kills it.
 */
export async function startServer(
  env: Record<string, string>,
  wrapper: readonly string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const server = fileURLToPath(new URL('./instructions-server.ts', import.meta.url));
  const node = [process.execPath, '--conditions=source', '--import', 'tsx', server];
  const [command, ...args] = [...wrapper, ...node];
  const child = spawn(command!, args, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('listening')) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`${env.BENCH_FRAMEWORK}/${env.BENCH_VARIANT} exited ${code}: ${stderr}`)),
      );
    });
  } catch (error) {
    child.kill('SIGTERM');
    throw error;
  }
  return { child, port };
}

function callgrindControl(flag: '-z' | '-d', pid: number): void {
  const out = spawnSync('callgrind_control', [flag, String(pid)], { encoding: 'utf8' });
  if (out.status !== 0)
    throw new Error(`callgrind_control ${flag} ${pid}: ${out.stderr || out.stdout}`);
}

/** Sums the `summary:` of every thread's dump `part` (`<base>.<part>-<thread>`), and thread 1's. */
async function readDump(
  dir: string,
  pid: number,
  part: number,
): Promise<{ main: number; all: number }> {
  const prefix = `cg.${pid}.${part}-`;
  // The dump is written asynchronously after callgrind_control returns: wait for every thread.
  let previous = -1;
  for (let attempt = 0; attempt < 120; attempt++) {
    const files = (await readdir(dir)).filter((f) => f.startsWith(prefix));
    const sizes = await Promise.all(
      files.map(async (f) => (await readFile(join(dir, f), 'utf8')).includes('\ntotals:')),
    );
    if (files.length > 0 && files.length === previous && sizes.every(Boolean)) break;
    previous = files.length;
    await new Promise((r) => setTimeout(r, 500));
  }
  let main = 0;
  let all = 0;
  for (const file of (await readdir(dir)).filter((f) => f.startsWith(prefix))) {
    const text = await readFile(join(dir, file), 'utf8');
    const summary = Number(/^summary: (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
    if (!Number.isFinite(summary)) throw new Error(`no summary in ${file}`);
    all += summary;
    if (file.endsWith('-01')) main = summary;
  }
  return { main, all };
}

interface Count {
  variant: InstructionsVariant;
  /** Measured windows until the main thread's count settled (or the limit). */
  windows: number;
  main: number;
  all: number;
}

async function measure(
  framework: string,
  variant: InstructionsVariant,
  tokensFile: string,
  tokens: readonly string[],
  dir: string,
): Promise<Count> {
  const { child, port } = await startServer(
    { BENCH_FRAMEWORK: framework, BENCH_VARIANT: variant, BENCH_TOKENS_FILE: tokensFile },
    [
      'valgrind',
      '--tool=callgrind',
      '--separate-threads=yes',
      '--dump-instr=no',
      `--callgrind-out-file=${join(dir, 'cg.%p')}`,
    ],
  );
  try {
    await load(port, tokens, config.warm);
    // The JIT's background compiles run late under valgrind: count windows until two in a row
    // agree within 3 % on the main thread (at most `config.windows`), and report the last.
    let previous: { main: number; all: number } | undefined;
    let last = { main: 0, all: 0 };
    let windows = 0;
    while (windows < config.windows) {
      windows++;
      callgrindControl('-z', child.pid!);
      const requests = await load(port, tokens, config.requests);
      callgrindControl('-d', child.pid!);
      const dump = await readDump(dir, child.pid!, windows);
      last = { main: dump.main / requests, all: dump.all / requests };
      if (previous && Math.abs(last.main - previous.main) <= 0.03 * previous.main) break;
      previous = last;
    }
    return { variant, windows, ...last };
  } finally {
    child.kill('SIGTERM');
  }
}

export async function benchInstructions(): Promise<void> {
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('\ninstructions: skipped, valgrind is not installed (apt-get install valgrind)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'authcache-instructions-'));
  try {
    const tokens = Array.from({ length: config.tokens }, () => generateToken('pat'));
    const tokensFile = join(dir, 'tokens.json');
    await writeFile(tokensFile, JSON.stringify(tokens));
    console.log(
      `\ninstructions: GET /api/me, ${tokens.length} PATs cycled over ${config.connections} ` +
        `connections; per server ${config.warm} warm-up requests, then windows of ` +
        `${config.requests} requests (callgrind's counters zeroed before each) until two in a row ` +
        `agree within 3 % on the main thread, at most ${config.windows}; ${probe.stdout.trim()}; ` +
        `the variants of a framework run side by side`,
    );
    for (const framework of config.frameworks) {
      const counts = await Promise.all(
        VARIANTS.map((variant) => measure(framework, variant, tokensFile, tokens, dir)),
      );
      const by = (v: InstructionsVariant) => counts.find((c) => c.variant === v)!;
      const table: Record<string, Record<string, string>> = {};
      for (const c of counts) {
        table[LABELS[c.variant]] = {
          'main thread / req': c.main.toFixed(0),
          'all threads / req': c.all.toFixed(0),
          'main ÷ ceiling': (c.main / by('none').main).toFixed(3),
          'main ÷ control': (c.main / by('control').main).toFixed(3),
          'main Δ control': (c.main - by('control').main).toFixed(0),
          windows: String(c.windows),
        };
      }
      console.log(`\n${framework} (instructions per request)`);
      console.table(table);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
