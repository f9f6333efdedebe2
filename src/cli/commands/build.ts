/**
 * @module cli/commands/build
 * `cairn build [OPTIONS] PATH | -`: docker build's classic interface. PATH is the context
 * directory; `-` reads a context tar from stdin (the Dockerfile is then a path inside it);
 * `-f -` reads the Dockerfile from stdin with PATH as the context. The log goes to stdout in
 * docker's classic form; `-q` prints only the image ID. `--progress=tty` (default on a
 * terminal) adds a live status line for the running step; `plain` never redraws.
 * `--timestamp SECONDS` or `SOURCE_DATE_EPOCH` makes the build reproducible.
 *
 * A rebuild whose inputs did not change is answered by the build memo (build/memo) before the
 * store module or the builder is loaded: the cached path stays lean.
 */
import type { BuildEvent } from '../../build/output.js';
import { CairnError } from '../../errors.js';
import { defaultStorePath, storePaths } from '../../store/paths.js';
import type { OptionSpecs } from '../args.js';
import type { CliIO, Command } from '../context.js';

/** `defineCommand` without importing cli/context (it loads the store, which a memo hit never needs). */
const defineCommand = <S extends OptionSpecs>(command: Command<S>): Command<S> => command;

function parseBuildArgs(values: readonly string[], env: CliIO['env']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq === 0) throw new CairnError('invalid-argument', `build: --build-arg "${value}": the name is empty`);
    if (eq > 0) out[value.slice(0, eq)] = value.slice(eq + 1);
    else {
      // docker: `--build-arg NAME` takes the value from the environment, or is ignored.
      const fromEnv = env[value];
      if (fromEnv !== undefined) out[value] = fromEnv;
    }
  }
  return out;
}

function parseEpoch(text: string, what: string): Date {
  if (!/^\d+$/.test(text.trim())) throw new CairnError('invalid-argument', `build: ${what} must be seconds since the epoch, not "${text}"`);
  return new Date(Number(text.trim()) * 1000);
}

async function readAll(stream: CliIO['stdin']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** The log writer: plain text, or text plus a redrawn status line on a terminal. */
function logWriter(io: CliIO, mode: 'plain' | 'tty'): { onOutput: (t: string) => void; onEvent: (e: BuildEvent) => void; done: () => void } {
  const out = io.stdout;
  if (mode === 'plain') return { onOutput: (t) => out.write(t), onEvent: () => undefined, done: () => undefined };
  let status = '';
  let started = 0;
  let frame = 0;
  let shown = false;
  let atLineStart = true;
  const clear = (): void => {
    if (shown) out.write('\r\x1b[2K');
    shown = false;
  };
  const draw = (): void => {
    if (!status || !atLineStart) return;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const width = Math.max(20, (out.columns ?? 80) - 12);
    const text = status.length > width ? `${status.slice(0, width - 1)}…` : status;
    out.write(`\r\x1b[2K\x1b[2m${SPINNER[frame++ % SPINNER.length] as string} ${text} ${seconds}s\x1b[0m`);
    shown = true;
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    onOutput: (text) => {
      clear();
      out.write(text);
      if (text.length > 0) atLineStart = text.endsWith('\n');
      draw();
    },
    onEvent: (event) => {
      if (event.type === 'step') {
        status = `Step ${event.index}/${event.total} : ${event.text.split('\n')[0] as string}`;
        started = Date.now();
      } else if (event.type === 'built') status = '';
    },
    done: () => {
      clearInterval(timer);
      clear();
    },
  };
}

export const command = defineCommand({
  usage: 'build [OPTIONS] PATH | -',
  summary: 'Build an image from a Dockerfile',
  options: {
    tag: { type: 'string', short: 't', multiple: true, value: 'NAME[:TAG]', description: 'name the image (several allowed)' },
    file: { type: 'string', short: 'f', value: 'FILE', description: "the Dockerfile (default PATH/Dockerfile; '-' reads it from stdin)" },
    'build-arg': { type: 'string', multiple: true, value: 'NAME=VALUE', description: 'set a build-time variable' },
    target: { type: 'string', value: 'STAGE', description: 'build this stage (and what it needs)' },
    'no-cache': { type: 'boolean', description: 'run every step, using no cached result' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the image ID' },
    progress: { type: 'string', value: 'auto|plain|tty', description: 'log style (default auto: tty on a terminal)' },
    timestamp: { type: 'string', value: 'SECONDS', description: 'created time of everything, for reproducible builds (default $SOURCE_DATE_EPOCH)' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length !== 1) throw new CairnError('invalid-argument', 'build: give exactly one context: a directory, or - for a tar on stdin');
    const contextArg = positionals[0] as string;
    if (contextArg === '-' && options.file === '-') throw new CairnError('invalid-argument', 'build: stdin cannot hold both the context (-) and the Dockerfile (-f -)');
    const progress = options.progress ?? 'auto';
    if (!['auto', 'plain', 'tty'].includes(progress)) throw new CairnError('invalid-argument', `build: --progress must be auto, plain or tty, not "${progress}"`);
    const epochText = options.timestamp ?? io.env.SOURCE_DATE_EPOCH;
    const timestamp = epochText !== undefined && epochText !== '' ? parseEpoch(epochText, options.timestamp !== undefined ? '--timestamp' : 'SOURCE_DATE_EPOCH') : undefined;
    const dockerfile = options.file === '-' ? { text: await readAll(io.stdin), name: 'Dockerfile' } : options.file;
    const mode = progress === 'auto' ? (io.stdout.isTTY && io.env.CI !== 'true' ? 'tty' : 'plain') : (progress as 'plain' | 'tty');
    const writer = options.quiet ? undefined : logWriter(io, mode);
    const { build, recallBuild } = await import('../../build/builder.js');
    const buildOptions = {
      ...(contextArg === '-' ? { contextTar: io.stdin } : { contextDir: contextArg }),
      ...(dockerfile !== undefined ? { dockerfile } : {}),
      tags: options.tag ?? [],
      buildArgs: parseBuildArgs(options['build-arg'] ?? [], io.env),
      ...(options.target !== undefined ? { target: options.target } : {}),
      noCache: options['no-cache'] ?? false,
      ...(timestamp ? { timestamp } : {}),
      ...(writer ? { onOutput: writer.onOutput, onEvent: writer.onEvent } : {}),
    };
    try {
      let result = await recallBuild(storePaths(options.store ?? defaultStorePath(io.env)), buildOptions);
      if (!result) {
        const { openStore } = await import('../context.js');
        result = await build(await openStore(io, options.store), buildOptions);
      }
      writer?.done();
      if (options.quiet) io.stdout.write(`${result.id}\n`);
      return 0;
    } catch (err) {
      writer?.done();
      throw err;
    }
  },
});
