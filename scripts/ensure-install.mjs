// Installs the workspace with the pinned pnpm when node_modules is missing or older than the
// lockfile, so that `npx -y pnpm@10 test` and `npx -y pnpm@10 demo` work on a fresh clone.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.modules.yaml';
const stale = !existsSync(marker) || statSync('pnpm-lock.yaml').mtimeMs > statSync(marker).mtimeMs;
if (stale) {
  const frozen = process.env.CI ? '--frozen-lockfile' : '';
  execSync(`npx -y pnpm@10 install ${frozen}`, { stdio: 'inherit' });
}
