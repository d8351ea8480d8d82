import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));

// Boots PGlite in a child process: generous timeouts so a loaded machine is not a failure.
it('the README example runs and prints what it promises', { timeout: 120_000 }, async () => {
  const readme = readFileSync(`${packageDir}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const index = blocks.findIndex(([, lang]) => lang === 'ts');
  const snippet = blocks[index]?.[2];
  const promised = blocks[index + 1]?.[2];
  expect(snippet).toContain('createUpgradeGuard');
  // Saved inside the package so that its imports resolve as they would in a project.
  const file = `${packageDir}.readme-example-${process.pid}.ts`;
  writeFileSync(file, snippet!);
  try {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', file],
      {
        cwd: packageDir,
        timeout: 110_000,
      },
    );
    expect(stdout.trim()).toBe(promised!.trim());
  } finally {
    rmSync(file, { force: true });
  }
});
