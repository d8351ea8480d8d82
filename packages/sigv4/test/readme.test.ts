import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(packageDir, '..', '..');

it('the README quick start runs and prints what it promises', async () => {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const expected = /Prints:\n\n```\n([\s\S]*?)```/.exec(readme)![1]!;
  // Inside the package, so `@authcache/sigv4` resolves to itself (package self-reference).
  const file = join(packageDir, `.readme-example-${process.pid}.ts`);
  writeFileSync(file, code);
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--no-warnings', file],
      { cwd: repoRoot, timeout: 60_000 },
    );
    expect(stdout).toBe(expected);
  } finally {
    rmSync(file, { force: true });
  }
});
