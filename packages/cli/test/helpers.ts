import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '@authcache/cli';
import { DATABASE_URL } from '@authcache/testkit';

/** The repository root (the binary runs from there, as the README's script does). */
export const root = fileURLToPath(new URL('../../..', import.meta.url));

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a script with `node --conditions=source --import tsx` as a child process, the way an
 * operator runs the CLI from this repository. `env` adds to (or, with `undefined`, removes from)
 * PATH, HOME and DATABASE_URL.
 */
export function node(
  script: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<Outcome> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL,
  };
  const merged = Object.fromEntries(
    Object.entries({ ...base, ...env }).filter(([, value]) => value !== undefined),
  ) as Record<string, string>;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', script, ...args],
      { cwd: root, env: merged, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs the CLI's binary from source as a child process. */
export function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return node('packages/cli/src/bin.ts', args, env);
}

/** Runs the CLI in this process (`run`), capturing its output. */
export async function inProcess(
  args: string[],
  env: Record<string, string | undefined> = { DATABASE_URL },
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env,
  });
  return { code, stdout, stderr };
}
