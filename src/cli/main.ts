/**
 * @module cli/main
 * The whole command line: `help`, `version`, and every command, found by name and loaded
 * lazily (so `cairn images` never loads what `cairn build` needs), then run by cli/dispatch.
 */
import type { CliIO, Command } from './context.js';
import { reportError, runCommand, splitInvocation } from './dispatch.js';

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

/**
 * What bin/cairn.js needs besides `main`, which every CLI entry point exports: the exit after a
 * command (sys/exit), and how to tell a command line a command's own script hands over (dispatch).
 */
export { exitWhenIdle } from '../sys/exit.js';
export { isWholeCliRequired } from './dispatch.js';

export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const invocation = splitInvocation(argv);
  const { name } = invocation;
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
  let command: Command;
  try {
    ({ command } = await loader());
  } catch (err) {
    return reportError(err, io);
  }
  return runCommand(name, command, invocation, io);
}

/** The command names, in the order `cairn help` lists them. Each is `commands/NAME.js`, with one entry point of its own in the bundle. */
export const commandNames: readonly string[] = Object.keys(COMMANDS);

async function usage(): Promise<string> {
  const lines = ['Usage: cairn [--store DIR] COMMAND [OPTIONS]', '', 'Commands:'];
  for (const [name, loader] of Object.entries(COMMANDS)) {
    const { command } = await loader();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', "Run 'cairn COMMAND --help' for a command's options.");
  return `${lines.join('\n')}\n`;
}
