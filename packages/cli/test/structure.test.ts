/** The shape of the CLI's sources (issue 9): small files, no import cycles, one registry. */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commands } from '../src/commands/index.js';
import { inProcess } from './helpers.js';

const src = new URL('../src/', import.meta.url);
const MAX_LINES = 400;

/** Every `.ts` file under src/, as a path relative to src/. */
function sources(dir = ''): string[] {
  return readdirSync(new URL(dir, src), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(`${dir}${entry.name}/`)
      : entry.name.endsWith('.ts')
        ? [`${dir}${entry.name}`]
        : [],
  );
}

/** The relative imports of `file`, resolved to paths relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(new URL(file, src), 'utf8');
  const base = new URL(file, src);
  return [...text.matchAll(/^(?:import|export)[^;]*?from '(\.[^']+)'/gms)].map((match) =>
    new URL(match[1]!.replace(/\.js$/, '.ts'), base).href.slice(src.href.length),
  );
}

describe('packages/cli/src', () => {
  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = sources()
      .map((file) => ({ file, lines: readFileSync(new URL(file, src), 'utf8').split('\n').length }))
      .filter(({ lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('has no import cycle', () => {
    const graph = new Map(sources().map((file) => [file, importsOf(file)]));
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'visiting');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
    // The check sees the imports: the dispatcher reaches every command through the registry.
    expect(importsOf('cli.ts')).toContain('commands/index.ts');
    expect(importsOf('commands/index.ts')).toContain('commands/migrate.ts');
  });

  it('registers every command file once, and --help lists every registered command', async () => {
    const files = sources()
      .filter((file) => file.startsWith('commands/') && file !== 'commands/index.ts')
      .sort();
    const registered = importsOf('commands/index.ts').filter((file) =>
      file.startsWith('commands/'),
    );
    expect(registered.sort()).toEqual(files);
    const names = commands.map((command) => command.name);
    expect(new Set(names).size).toBe(names.length);
    const help = await inProcess(['--help'], {});
    for (const command of commands) {
      expect(command.usage.startsWith(`Usage: authcache ${command.name} `)).toBe(true);
      expect(help.stdout).toContain(`  ${command.name}`);
      expect(help.stdout).toContain(command.summary);
    }
  });

  it('has one implementation of token creation for both token kinds', () => {
    for (const file of ['commands/token-create.ts', 'commands/token-create-daemon.ts']) {
      const text = readFileSync(new URL(file, src), 'utf8');
      expect(importsOf(file)).toContain('create-token.ts');
      // Printing, expiry and the "shown only once" note live in create-token.ts only.
      expect(text).not.toMatch(/shown only once|parseDuration|stdout/);
    }
  });
});
