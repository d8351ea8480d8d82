import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

// Boots PGlite in a child process: generous timeouts so a loaded CI machine is not a failure.
it('the README quick start runs and prints what it promises', { timeout: 120_000 }, async () => {
  const readme = readFileSync(`${packageDir}README.md`, 'utf8');
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
  const snippet = blocks.find(([, lang]) => lang === 'ts')?.[2];
  const promised = blocks.find(([, lang], i) => lang === '' && i > 0)?.[2];
  expect(snippet).toContain('createEmbeddedDb');
  // Saved inside the package, as the README says, so that its imports resolve the same way.
  const file = `${packageDir}.readme-quickstart-${process.pid}.ts`;
  writeFileSync(file, snippet!);
  try {
    const { stdout } = await run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', file],
      {
        cwd: repoRoot,
        timeout: 110_000,
      },
    );
    const lines = stdout.trim().split('\n');
    const expected = promised!.trim().split('\n');
    expect(lines).toHaveLength(expected.length);
    expect(lines[0]).toMatch(/^created mul_[0-9A-Za-z]{4}…$/);
    expect(lines.slice(1)).toEqual(expected.slice(1));
  } finally {
    rmSync(file, { force: true });
  }
});
