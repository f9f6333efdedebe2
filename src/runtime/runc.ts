/**
 * @module runtime/runc
 * The `runc` driver. Every call names a private state root (`--root`, inside the container's own
 * directory) and a log (`--log`, `--log-format json`), so containers never meet in a global runc
 * state and runc's errors can be read back as data.
 *
 * Containers run in the foreground: `runc run --pid-file F` stays the parent of the container's
 * first process, forwards signals to it and exits with its status, and deletes the container
 * when it ends. No console socket is needed: with `process.terminal` runc makes the pty and copies
 * between it and its own stdio (which must be a terminal for an interactive session), and
 * without one the container process inherits runc's stdio directly — pipes or files we own.
 * `runc exec --process process.json` works the same way for a second process.
 *
 * Why not `runc create` + `runc start`: once `runc create` exits, the container's first process
 * is reparented away from us, and its exit status is lost (Node can only wait for children it
 * spawned, and cannot be a subreaper that reaps others). A foreground `runc run` costs one runc
 * process per container (~10 MB) and gives the status for free.
 *
 * A failed start becomes CairnError('process-failed') with runc's own reason, taken from the
 * JSON log: `runc run failed: unable to start container process: exec: "nosuch": executable file
 * not found in $PATH` becomes `container start failed: exec: "nosuch": executable file not found
 * in $PATH`.
 */
import { accessSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { runTool, spawnRuntime, track } from './launch.js';
import { delay } from './proc.js';
import type { ExecLaunchOptions, Launched, LaunchOptions, Runtime, RuntimeContext } from './types.js';

export interface RuncOptions {
  /** The runc binary: a path, or a name looked up on PATH. Default `runc`. */
  binary?: string;
}

/** What `runc state` prints (the fields cairn reads). */
export interface RuncState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  bundle: string;
  created: string;
}

const ID = /^[A-Za-z0-9_.+-]+$/;

function checkId(id: string): void {
  if (!ID.test(id)) throw new CairnError('invalid-argument', `invalid runtime container id "${id}"`, { id });
}

// The small lookups of a start (the log's size, the pid file, runc's state directory) are
// synchronous calls: each costs less than the thread-pool round trip of a promise-based one.

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw err;
  }
}

/** The last error runc logged after byte `offset` of its JSON log, or null. */
export async function runcLogError(logFile: string, offset: number): Promise<string | null> {
  let text: string;
  try {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const buf = Buffer.alloc(Math.max(0, size - offset));
      await handle.read(buf, 0, buf.length, offset);
      text = buf.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
  let last: string | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if ((entry.level === 'error' || entry.level === 'fatal') && typeof entry.msg === 'string') last = entry.msg;
    } catch {
      // a torn line: runc was killed mid-write
    }
  }
  return last === null ? null : runcReason(last);
}

/** Strips runc's wrapping (`runc run failed: unable to start container process: `) off a reason. */
export function runcReason(msg: string): string {
  return msg
    .replace(/^runc (run|create|start|exec) failed: /, '')
    .replace(/^exec failed: /, '')
    .replace(/^unable to start container process: /, '');
}

function exists(file: string): boolean {
  try {
    accessSync(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The pid in runc's pid file once that process runs the container's command (see below), or null when there is none yet. */
export async function readRuncPid(file: string): Promise<number | null> {
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  // runc writes the pid file once it has told its init to exec the process, which the init then
  // does on its own. Until it has, a signal reaches runc's init, not the command: a `stop` right
  // after `run -d` ended the container with the Go runtime's status 2 instead of the command's
  // own. So the start counts once the pid is the command (or already gone), within a bound.
  for (let waited = 0; waited < EXEC_WAIT_MS && isRuncInit(pid); waited++) await delay(1);
  return pid;
}

const EXEC_WAIT_MS = 1000;

/** Whether `pid` is still runc's init (its name until it execs the container's process). */
function isRuncInit(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').startsWith('runc:[2:INIT]');
  } catch {
    return false; // gone already: the start is over
  }
}

/** Messages of runc kill/delete that mean "already gone", which is success for kill and delete. */
const GONE = /container not running|process already finished|container does not exist|no such process|not exist/i;

export class RuncRuntime implements Runtime {
  readonly name = 'runc' as const;
  readonly #binary: string;

  constructor(opts: RuncOptions = {}) {
    this.#binary = opts.binary ?? 'runc';
  }

  /** The binary this driver runs. */
  get binary(): string {
    return this.#binary;
  }

  #global(ctx: RuntimeContext): string[] {
    return ['--root', ctx.stateDir, '--log', ctx.logFile, '--log-format', 'json'];
  }

  async launch(opts: LaunchOptions): Promise<Launched> {
    checkId(opts.id);
    const args = ['run', '--bundle', opts.bundle, '--pid-file', opts.pidFile, opts.id];
    return this.#start('container start', opts, opts.pidFile, args, { command: opts.spec.process.args[0] });
  }

  async exec(opts: ExecLaunchOptions): Promise<Launched> {
    checkId(opts.id);
    const pidFile = `${opts.processFile}.pid`;
    await writeFile(opts.processFile, JSON.stringify(opts.process));
    const args = ['exec', '--process', opts.processFile, '--pid-file', pidFile, opts.id];
    return this.#start('exec', opts, pidFile, args, { command: opts.process.args[0] }, async () => {
      await rm(opts.processFile, { force: true });
      await rm(pidFile, { force: true });
    });
  }

  async #start(
    what: string,
    opts: RuntimeContext & { stdio: LaunchOptions['stdio']; detached?: boolean },
    pidFile: string,
    args: string[],
    data: Record<string, unknown>,
    cleanup?: () => Promise<void>,
  ): Promise<Launched> {
    // Only log lines written after this offset belong to this start; a stale pid file would
    // pass for a started container.
    const offset = sizeOf(opts.logFile);
    rmSync(pidFile, { force: true });
    let child;
    try {
      child = spawnRuntime(this.#binary, [...this.#global(opts), ...args], opts.stdio, opts.detached ?? false);
    } catch (err) {
      await cleanup?.();
      throw err;
    }
    return track(child, this.#binary, {
      what,
      data: { runtime: 'runc', ...data },
      findPid: () => readRuncPid(pidFile),
      pidFile,
      // A clean exit after a start is the common case: skip reading the log then.
      startFailure: (status, started) => (status === 0 && started ? Promise.resolve(null) : runcLogError(opts.logFile, offset)),
      ...(cleanup ? { finally: cleanup } : {}),
    });
  }

  async kill(ctx: RuntimeContext, _pid: number, signal: NodeJS.Signals): Promise<void> {
    const r = await runTool(this.#binary, [...this.#global(ctx), 'kill', ctx.id, signal]);
    if (r.status !== 0 && !GONE.test(r.stderr)) {
      throw new CairnError('process-failed', `runc kill ${signal} failed: ${lastLine(r.stderr)}`, { signal, status: r.status });
    }
  }

  async delete(ctx: RuntimeContext): Promise<void> {
    // runc keeps a container as `<root>/<id>/`; without it there is nothing to delete, and not
    // starting runc saves ~30 ms on every `run --rm` (a `runc run` that ended deleted its own).
    if (!exists(path.join(ctx.stateDir, ctx.id))) return;
    const r = await runTool(this.#binary, [...this.#global(ctx), 'delete', '--force', ctx.id]);
    if (r.status !== 0 && !GONE.test(r.stderr)) {
      throw new CairnError('process-failed', `runc delete failed: ${lastLine(r.stderr)}`, { status: r.status });
    }
  }

  /**
   * runc's own view of the container (`runc state`), or null when runc does not know it. For
   * diagnostics: cairn's state.json is the source of truth for callers.
   */
  async state(ctx: RuntimeContext): Promise<RuncState | null> {
    if (!exists(path.join(ctx.stateDir, ctx.id))) return null;
    const r = await runTool(this.#binary, ['--root', ctx.stateDir, 'state', ctx.id]);
    if (r.status !== 0) {
      if (GONE.test(r.stderr)) return null;
      throw new CairnError('process-failed', `runc state failed: ${lastLine(r.stderr)}`, { status: r.status });
    }
    return JSON.parse(r.stdout) as RuncState;
  }

  teardownCommand(ctx: RuntimeContext): string {
    return `${shQuote(this.#binary)} --root ${shQuote(ctx.stateDir)} delete --force ${shQuote(ctx.id)}`;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** Quotes `s` for /bin/sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
