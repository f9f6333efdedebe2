/**
 * @module cli/dispatch
 * Running one command: reading the command line's global part (`--store` before the command
 * name), parsing the command's flags, its `--help`, and turning errors into one clear line (stack
 * traces only with CAIRN_DEBUG=1). Shared by the full CLI (cli/main, which finds the command by
 * name) and the one-command entry points that bin/cairn.js runs for a known command name
 * (`commandMain`, see scripts/bundle-cli.mjs).
 *
 * A command's own script may leave rare, heavy paths out (`diff` of images: layer indexes, tar):
 * the bundle replaces those modules with one that throws `wholeCliRequired()`. That error is not
 * reported: it leaves `main`, and bin/cairn.js runs the same command line with the whole CLI.
 * Such a path must be reached before the command changes anything.
 */
import { isCairnError } from '../errors.js';
import { formatOptions, parseArgs, type OptionSpecs } from './args.js';
import type { CliIO, Command } from './context.js';

const STORE_OPTION = {
  store: { type: 'string', value: 'DIR', description: 'the store (default $CAIRN_STORE, else $XDG_DATA_HOME/cairn, else ~/.local/share/cairn)' },
} as const satisfies OptionSpecs;

const HELP_OPTION = { help: { type: 'boolean', short: 'h', description: 'show this help' } } as const satisfies OptionSpecs;

/** A command line split into its global options, the command's name and the command's own arguments. */
export interface Invocation {
  /** `--store DIR` / `--store=DIR` given before the command: it applies to the command, as docker's global flags do. */
  readonly globalArgs: readonly string[];
  readonly name: string | undefined;
  readonly args: readonly string[];
}

export function splitInvocation(argv: readonly string[]): Invocation {
  const globalArgs: string[] = [];
  let i = 0;
  while (argv[i]?.startsWith('--store')) {
    const step = argv[i]?.includes('=') ? 1 : 2;
    globalArgs.push(...argv.slice(i, i + step));
    i += step;
  }
  return { globalArgs, name: argv[i], args: argv.slice(i + 1) };
}

/** The `code` of the error that sends a command line from a command's own script to the whole CLI. */
export const WHOLE_CLI_REQUIRED = 'ERR_CAIRN_WHOLE_CLI_REQUIRED';

/** Thrown where a command's own script lacks the code for what the command line asks. */
export function wholeCliRequired(module: string): never {
  throw Object.assign(new Error(`${module} is not in this command's script: run the whole CLI`), { code: WHOLE_CLI_REQUIRED });
}

/** Whether `err` is `wholeCliRequired`'s (bin/cairn.js asks the script it ran, through its exports). */
export function isWholeCliRequired(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === WHOLE_CLI_REQUIRED;
}

/** Runs `command` (named `name` in messages) with the invocation's arguments; returns the exit code. */
export async function runCommand(name: string, command: Command, invocation: Invocation, io: CliIO): Promise<number> {
  try {
    const specs = { ...command.options, ...STORE_OPTION, ...HELP_OPTION };
    const stop = command.stopAfterPositionals;
    const argv = [...invocation.globalArgs, ...invocation.args];
    const parsed = parseArgs(name, argv, specs, stop === undefined ? {} : { stopAfterPositionals: stop });
    if (parsed.options.help) {
      io.stdout.write(`Usage: cairn ${command.usage}\n\n${command.summary}\n\nOptions:\n${formatOptions(specs)}\n`);
      return 0;
    }
    return await command.run(io, parsed as Parameters<Command['run']>[1]);
  } catch (err) {
    if (isWholeCliRequired(err)) throw err;
    return reportError(err, io);
  }
}

/** One `Error: …` line on stderr; the exit code is 2 for a usage error, else 1. */
export function reportError(err: unknown, io: CliIO): number {
  if (io.env.CAIRN_DEBUG === '1' && err instanceof Error) io.stderr.write(`${err.stack}\n`);
  if (isCairnError(err)) {
    io.stderr.write(`Error: ${err.message}\n`);
    return err.code === 'invalid-argument' ? 2 : 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`Error: ${message}\n`);
  return 1;
}

/**
 * The `main` of an entry point that holds one command: the same contract as cli/main's `main`
 * for a command line naming `name` (bin/cairn.js picks the entry point by that name). Any other
 * command line is a mistake of the caller's, reported as such.
 */
export function commandMain(name: string, command: Command): (argv: readonly string[], io: CliIO) => Promise<number> {
  return async (argv, io) => {
    const invocation = splitInvocation(argv);
    if (invocation.name !== name) return reportError(new Error(`this entry point runs "cairn ${name}", not "${invocation.name ?? ''}"`), io);
    return runCommand(name, command, invocation, io);
  };
}
