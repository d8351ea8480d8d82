import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The first ```ts block of a package README and the plain block showing what it prints. */
export interface ReadmeExample {
  code: string;
  /** The first untyped fenced block after the code block (what the example prints). */
  output: string | undefined;
}

export function readReadmeExample(packageDir: string): ReadmeExample {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const codeIndex = blocks.findIndex(([, lang]) => lang === 'ts');
  if (codeIndex < 0) throw new Error(`${packageDir}README.md has no \`\`\`ts block`);
  const output = blocks.slice(codeIndex + 1).find(([, lang]) => lang === '')?.[2];
  return { code: blocks[codeIndex]![2]!, output };
}

/**
 * Runs README code the way a reader would: saved inside the package (so its imports resolve as
 * the README says) and run with tsx from the repository root. Returns stdout.
 */
export async function runReadmeCode(
  packageDir: string,
  code: string,
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<string> {
  const file = join(packageDir, `.readme-example-${process.pid}.ts`);
  writeFileSync(file, code);
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--no-warnings', file],
      {
        cwd: join(packageDir, '..', '..'),
        timeout: options.timeoutMs ?? 60_000,
        env: { ...process.env, ...options.env },
      },
    );
    return stdout;
  } finally {
    rmSync(file, { force: true });
  }
}
