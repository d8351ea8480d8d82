import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the AWS SigV4 test suite (aws-c-auth's `tests/aws-signing-test-suite`) lives. It is not
 * vendored: CI checks it out as `shared/sigv4-test-suite` beside the repository.
 * `SIGV4_TEST_SUITE` overrides the search (point it at the directory that holds `v4/`).
 */
export function findSigV4Suite(): { dir: string | undefined; searched: string[] } {
  const searched: string[] = [];
  const fromEnv = process.env.SIGV4_TEST_SUITE;
  if (fromEnv) {
    const dir = resolve(fromEnv);
    searched.push(dir);
    return { dir: existsSync(join(dir, 'v4')) ? dir : undefined, searched };
  }
  let dir = repoRoot();
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) break;
    // A sibling of the repository root (CI) or of any directory above it (worktrees).
    const candidate = join(parent, 'shared', 'sigv4-test-suite');
    searched.push(candidate);
    if (existsSync(join(candidate, 'v4'))) return { dir: candidate, searched };
    dir = parent;
  }
  return { dir: undefined, searched };
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('repository root (pnpm-workspace.yaml) not found');
    dir = parent;
  }
  return dir;
}

export interface SuiteContext {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  expiration_in_seconds: number;
  normalize: boolean;
  region: string;
  service: string;
  sign_body: boolean;
  timestamp: string;
  omit_session_token?: boolean;
}

export interface ParsedHttpRequest {
  method: string;
  target: string;
  /** node `rawHeaders` shape: name, value, name, value, … */
  rawHeaders: string[];
  body: string;
}

/**
 * Parses a `*-signed-request.txt`: request line, headers (continuation lines folded into the
 * previous value, as obs-fold), blank line, body. The target may contain spaces.
 */
export function parseHttpRequest(text: string): ParsedHttpRequest {
  const lines = text.split('\n');
  const requestLine = lines.shift()!;
  const first = requestLine.indexOf(' ');
  const last = requestLine.lastIndexOf(' ');
  const method = requestLine.slice(0, first);
  const target = requestLine.slice(first + 1, last);
  const rawHeaders: string[] = [];
  while (lines.length > 0) {
    const line = lines.shift()!;
    if (line === '') break;
    if (/^\s/.test(line) && rawHeaders.length > 0) {
      rawHeaders[rawHeaders.length - 1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1));
  }
  return { method, target, rawHeaders, body: lines.join('\n') };
}

export interface SuiteCase {
  name: string;
  context: SuiteContext;
  read(file: string): string;
}

export function loadSuiteCases(dir: string): SuiteCase[] {
  const v4 = join(dir, 'v4');
  return readdirSync(v4, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(v4, entry.name, 'context.json')))
    .map((entry) => entry.name)
    .sort()
    .map((name) => ({
      name,
      context: JSON.parse(readFileSync(join(v4, name, 'context.json'), 'utf8')) as SuiteContext,
      read: (file: string) => readFileSync(join(v4, name, file), 'utf8'),
    }));
}
