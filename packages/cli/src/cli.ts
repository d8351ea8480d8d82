/** The dispatcher: finds the command in the registry, parses its options, reports errors. */
import { parseArgs } from 'node:util';
import {
  type CliIo,
  type Command,
  EXIT,
  type OptionSpec,
  UsageError,
  type Values,
} from './command.js';
import { commands } from './commands/index.js';
import { messageOf } from './format.js';
import { redact } from './redact.js';
import { packageVersion } from './version.js';

export type { CliIo } from './command.js';
export { EXIT } from './command.js';

const HELP_OPTION: Readonly<Record<string, OptionSpec>> = { help: { type: 'boolean', short: 'h' } };

/** `token revoke` → `token revoke <id>`: the name and the positionals of the usage line. */
function synopsis(command: Command): string {
  const firstLine = command.usage.split('\n')[0] ?? '';
  const rest = firstLine.slice(`Usage: authcache ${command.name}`.length);
  return `${command.name}${/^(?: <[^>]+>)*/.exec(rest)?.[0] ?? ''}`;
}

function listing(list: readonly Command[]): string {
  return list.map((command) => `  ${synopsis(command).padEnd(29)}${command.summary}`).join('\n');
}

function mainUsage(): string {
  return `Usage: authcache <command> [options]

Commands:
${listing(commands)}

Run 'authcache help <command>' (or 'authcache <command> --help') for a command's options, and
'authcache --version' for the version.
Environment: DATABASE_URL, REDIS_URL, AUTHCACHE_SCHEMA, and AUTHCACHE_PEPPER (the store's
hash pepper, if the app uses one; never pass secrets as arguments).
Exit codes: 0 ok, 1 operational error, 2 usage error.`;
}

/** Commands whose names start with `group`, e.g. `token`. */
function inGroup(group: string): Command[] {
  return commands.filter((command) => command.name.startsWith(`${group} `));
}

function groupUsage(group: string): string {
  const subcommands = inGroup(group).map((command) => command.name.slice(group.length + 1));
  return `Usage: authcache ${group} <${subcommands.join('|')}> [options]

${listing(inGroup(group))}

Run 'authcache help ${group} <subcommand>' for its options.`;
}

type Lookup =
  | { found: Command; rest: string[] }
  | { group: string; rest: string[] }
  | { unknown: string; group?: string };

/** The command named by the first words of `argv`, a bare group (`token`), or an unknown name. */
function lookup(argv: readonly string[]): Lookup {
  const [first = '', second] = argv;
  const byName = new Map(commands.map((command) => [command.name, command]));
  const single = byName.get(first);
  if (single) return { found: single, rest: argv.slice(1) };
  if (inGroup(first).length === 0) return { unknown: first };
  if (second === undefined || second.startsWith('-')) return { group: first, rest: argv.slice(1) };
  const sub = byName.get(`${first} ${second}`);
  return sub
    ? { found: sub, rest: argv.slice(2) }
    : { unknown: `${first} ${second}`, group: first };
}

/** Parses `args` for `command`; a mistyped option is a one-line usage error naming the command. */
function parse(command: Command, args: string[]): { values: Values; positionals: string[] } {
  const options = { ...command.options, ...HELP_OPTION };
  const { values, positionals, tokens } = parseArgs({
    args,
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const see = `see 'authcache help ${command.name}'`;
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    const option = `'${token.rawName}'`;
    if (spec === undefined) {
      throw new UsageError(`unknown option ${option} for '${command.name}'; ${see}`, false);
    }
    if (spec.type === 'boolean' && token.value !== undefined) {
      throw new UsageError(`option ${option} of '${command.name}' takes no value; ${see}`, false);
    }
    if (spec.type === 'string' && token.value === undefined) {
      throw new UsageError(`option ${option} of '${command.name}' needs a value; ${see}`, false);
    }
    if (spec.type === 'string' && !token.inlineValue && /^-./.test(token.value ?? '')) {
      throw new UsageError(
        `option ${option} of '${command.name}' needs a value, but '${token.value}' follows it ` +
          `(write ${token.rawName}=VALUE for a value that starts with '-'); ${see}`,
        false,
      );
    }
  }
  const max = command.maxPositionals ?? 0;
  if (positionals.length > max) {
    throw new UsageError(
      `unexpected argument '${positionals[max]}' for '${command.name}'; ${see}`,
      false,
    );
  }
  return { values: values as Values, positionals };
}

/** `authcache help [words…]`: the usage of a command, of a group, or the main one. */
function help(words: readonly string[], io: CliIo): number {
  if (words.length === 0) {
    io.stdout(`${mainUsage()}\n`);
    return EXIT.ok;
  }
  const found = lookup(words);
  if ('found' in found && found.rest.length === 0) {
    io.stdout(`${found.found.usage}\n`);
    return EXIT.ok;
  }
  if ('group' in found && !('unknown' in found) && found.rest.length === 0) {
    io.stdout(`${groupUsage(found.group)}\n`);
    return EXIT.ok;
  }
  io.stderr(`authcache: unknown command '${words.join(' ')}'\n\n${mainUsage()}\n`);
  return EXIT.usage;
}

const defaultIo = (): CliIo => ({
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});

/**
 * Runs the `authcache` command line (`argv` without `node` and the script) and returns the
 * exit code: 0 ok, 1 operational error (message on stderr), 2 usage error (message, and usage
 * where it helps, on stderr). Never throws; error messages never contain a token, the pepper or
 * a URL's password.
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const cli: CliIo = { ...defaultIo(), ...io };
  const secrets: string[] = [];
  const [first] = argv;
  if (first === undefined) {
    cli.stderr(`${mainUsage()}\n`);
    return EXIT.usage;
  }
  if (first === '--help' || first === '-h') return help([], cli);
  if (first === 'help') return help(argv.slice(1), cli);
  if (first === '--version') {
    cli.stdout(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const found = lookup(argv);
  if ('unknown' in found) {
    const usage = found.group === undefined ? mainUsage() : groupUsage(found.group);
    cli.stderr(`authcache: unknown command '${found.unknown}'\n\n${usage}\n`);
    return EXIT.usage;
  }
  if (!('found' in found)) {
    const [flag] = found.rest;
    const asked = flag === '--help' || flag === '-h';
    (asked ? cli.stdout : cli.stderr)(`${groupUsage(found.group)}\n`);
    return asked ? EXIT.ok : EXIT.usage;
  }
  const command = found.found;
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parse(command, found.rest);
  } catch (error) {
    cli.stderr(`authcache: ${redact(messageOf(error), secrets)}\n`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    cli.stdout(`${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run({
      name: command.name,
      values: parsed.values,
      positionals: parsed.positionals,
      io: cli,
      secrets,
    });
  } catch (error) {
    const message = `authcache ${command.name}: ${redact(messageOf(error), secrets)}\n`;
    if (error instanceof UsageError) {
      cli.stderr(error.showUsage ? `${message}\n${command.usage}\n` : message);
      return EXIT.usage;
    }
    cli.stderr(message);
    return EXIT.error;
  }
}
