/**
 * @module cli/main
 * Dispatch: find the command, load its module (lazily, so `cairn images` never loads what
 * `cairn build` needs), parse its flags, run it, and turn errors into one clear line. Stack
 * traces only with CAIRN_DEBUG=1.
 */
import { isCairnError } from '../errors.js';
import { formatOptions, parseArgs, type OptionSpecs } from './args.js';
import type { CliIO, Command } from './context.js';

type Loader = () => Promise<{ command: Command }>;

const COMMANDS: Readonly<Record<string, Loader>> = {
  images: () => import('./commands/images.js'),
  tag: () => import('./commands/tag.js'),
  rmi: () => import('./commands/rmi.js'),
  inspect: () => import('./commands/inspect.js'),
  history: () => import('./commands/history.js'),
  layers: () => import('./commands/layers.js'),
  ls: () => import('./commands/ls.js'),
  cat: () => import('./commands/cat.js'),
  unpack: () => import('./commands/unpack.js'),
  export: () => import('./commands/export.js'),
  copy: () => import('./commands/copy.js'),
  pull: () => import('./commands/pull.js'),
  push: () => import('./commands/push.js'),
  load: () => import('./commands/load.js'),
  save: () => import('./commands/save.js'),
  create: () => import('./commands/create.js'),
  run: () => import('./commands/run.js'),
  start: () => import('./commands/start.js'),
  stop: () => import('./commands/stop.js'),
  kill: () => import('./commands/kill.js'),
  rm: () => import('./commands/rm.js'),
  ps: () => import('./commands/ps.js'),
  logs: () => import('./commands/logs.js'),
  exec: () => import('./commands/exec.js'),
  cp: () => import('./commands/cp.js'),
  commit: () => import('./commands/commit.js'),
  diff: () => import('./commands/diff.js'),
  gc: () => import('./commands/gc.js'),
  fsck: () => import('./commands/fsck.js'),
  demo: () => import('./commands/demo.js'),
  build: () => import('./commands/build.js'),
  builder: () => import('./commands/builder.js'),
};

const STORE_OPTION = {
  store: { type: 'string', value: 'DIR', description: 'the store (default $CAIRN_STORE, else $XDG_DATA_HOME/cairn, else ~/.local/share/cairn)' },
} as const satisfies OptionSpecs;

const HELP_OPTION = { help: { type: 'boolean', short: 'h', description: 'show this help' } } as const satisfies OptionSpecs;

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  // A --store given before the command applies to it, as docker's global flags do.
  let rest = [...argv];
  const globalStore: string[] = [];
  while (rest[0]?.startsWith('--store')) {
    const first = rest[0];
    if (first.startsWith('--store=')) {
      globalStore.push(first);
      rest = rest.slice(1);
    } else {
      globalStore.push(first, rest[1] ?? '');
      rest = rest.slice(2);
    }
  }
  const [name, ...args] = rest;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(await usage());
    return name === undefined ? 1 : 0;
  }
  if (name === 'version' || name === '--version') {
    io.stdout.write('cairn 0.1.0\n');
    return 0;
  }
  const loader = COMMANDS[name];
  if (!loader) {
    io.stderr.write(`Error: unknown command "${name}" (see 'cairn help')\n`);
    return 2;
  }
  try {
    const { command } = await loader();
    const specs = { ...command.options, ...STORE_OPTION, ...HELP_OPTION };
    const stop = command.stopAfterPositionals;
    const parsed = parseArgs(name, [...globalStore, ...args], specs, stop === undefined ? {} : { stopAfterPositionals: stop });
    if (parsed.options.help) {
      io.stdout.write(`Usage: cairn ${command.usage}\n\n${command.summary}\n\nOptions:\n${formatOptions(specs)}\n`);
      return 0;
    }
    return await command.run(io, parsed as Parameters<Command['run']>[1]);
  } catch (err) {
    if (io.env.CAIRN_DEBUG === '1' && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    if (isCairnError(err)) {
      io.stderr.write(`Error: ${err.message}\n`);
      return err.code === 'invalid-argument' ? 2 : 1;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`Error: ${message}\n`);
    return 1;
  }
}

async function usage(): Promise<string> {
  const lines = ['Usage: cairn [--store DIR] COMMAND [OPTIONS]', '', 'Commands:'];
  for (const [name, loader] of Object.entries(COMMANDS)) {
    const { command } = await loader();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', "Run 'cairn COMMAND --help' for a command's options.");
  return `${lines.join('\n')}\n`;
}
