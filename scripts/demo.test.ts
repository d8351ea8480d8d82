// `pnpm demo` is the README's first command: it must finish by itself, successfully, with the tour.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

it('pnpm demo tours the hono example and exits 0 by itself', async () => {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'scripts/demo.ts'],
    {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: 'postgres://unused.invalid/none',
        REDIS_URL: '',
        PORT: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(output).toContain('Tour complete');
  expect(code, output).toBe(0);
  for (const step of [
    'store queries +1',
    'cache hits +100',
    '4401 "token_revoked"',
    '4401 "token_expired"',
  ]) {
    expect(output).toContain(step);
  }
}, 60_000);
