import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DATABASE_URL, dropSchema, freshSchemaName } from '@authcache/testkit';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const schema = freshSchemaName('cli_readme');

afterAll(() => dropSchema(schema));

it('the README script runs as written and revokes the token it created', {
  timeout: 120_000,
}, async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const script = /```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(script).toBeDefined();
  const { code, stdout, stderr } = await new Promise<{
    code: number;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    execFile(
      'bash',
      ['-e', '-c', script!],
      {
        cwd: root,
        timeout: 100_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL,
          AUTHCACHE_SCHEMA: schema,
        },
      },
      (error, out, err) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout: out,
          stderr: err,
        }),
    );
  });
  expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringContaining('shown only once') });
  const token = /^token:\s+(mul_\S+)$/m.exec(stdout)?.[1];
  expect(token).toBeDefined();
  expect(stderr).not.toContain(token!);
  expect(stdout).toMatch(/^revoked pat [0-9a-f-]{36}$/m);
  expect(stdout).toContain(`schema:           ${schema}`);
  expect(stdout).toContain('pat tokens:       0 live, 0 expired, 1 revoked');
});
