/**
 * @module runtime/launch
 * Turning a spawned runtime process into a `Launched`: when did the container process start
 * (its pid appeared), how did it end, and — when it never started — why, in the runtime's own
 * words. Shared by both runtimes; each says how to find the pid and how to read a failure.
 *
 * Both promises are settled exactly once and never left as unhandled rejections: a caller may
 * await only `exited`.
 *
 * Runtime processes are started here too (`spawnRuntime`, `runTool`): natively (sys/spawn, no
 * fork of node) unless the caller streams into the container's stdin.
 */
import { spawn } from 'node:child_process';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { CairnError, errnoCode, type ErrorData } from '../errors.js';
import { spawnChild, type ChildOptions, type NativeChild } from '../sys/spawn.js';
import { exitStatus } from './proc.js';
import type { Launched, OutputStream, StdioSlot } from './types.js';

/**
 * What `track` needs of a runtime process: a sys/spawn `NativeChild`, or a child_process
 * `ChildProcess` (a stdin pipe, and the util-linux fallback).
 */
export interface RuntimeProcess {
  readonly pid?: number | undefined;
  readonly stdin?: Writable | null;
  readonly stdout: OutputStream | null;
  readonly stderr: OutputStream | null;
  kill(signal: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export interface TrackOptions {
  /** What is starting, for messages: `container start` or `exec`. */
  what: string;
  /** The pid of the container process once it exists (polled every few ms until the exit). */
  findPid(): Promise<number | null>;
  /**
   * The file whose arrival means `findPid` can succeed (runc's pid file, renamed into place). Its
   * directory is watched (inotify), so the start is noticed at once and `findPid` is polled only
   * as a slow backstop: polling every 5 ms cost ~20 ms of CPU over a 0.15 s runc start here.
   */
  pidFile?: string;
  /**
   * The runtime's reason when the start failed, or null when it did not. `started` says whether
   * the pid had been seen (a runtime can still fail after that).
   */
  startFailure(status: number, started: boolean): Promise<string | null>;
  /** Put into the error's data (the command, the runtime...). */
  data: ErrorData;
  /** Runs once the runtime process has exited (scratch file cleanup). */
  finally?(): Promise<void>;
  /** How `Launched.signal` delivers; default: to the runtime process. */
  signal?(signal: NodeJS.Signals, pid: number | null): void;
  /** The container's stderr when it is not the runtime's (the fallback keeps fd 2 for itself). */
  stderr?: OutputStream | null;
  /** Corrects the runtime's exit status (a runtime bug's status to the real one). */
  mapStatus?(status: number): Promise<number>;
}

const POLL_MS = 5;
/** The poll interval when `pidFile` is watched: only a backstop for a lost event. */
const BACKSTOP_MS = 100;

/** Calls `onArrival` whenever `file` is created or renamed into place; null when it cannot watch. */
function watchArrival(file: string, onArrival: () => void): FSWatcher | null {
  const name = path.basename(file);
  try {
    const watcher = watch(path.dirname(file), (event, changed) => {
      if (event === 'rename' && changed === name) onArrival();
    });
    watcher.on('error', () => undefined);
    return watcher;
  } catch {
    return null; // no inotify (or no directory yet): polling alone
  }
}

/** A runtime binary that could not be started at all: missing is 'unsupported'. */
function spawnError(err: unknown, binary: string): CairnError {
  if (errnoCode(err) === 'ENOENT') {
    return new CairnError('unsupported', `${binary} is not installed (not found on PATH)`, { binary }, { cause: err });
  }
  return new CairnError('process-failed', `cannot run ${binary}: ${(err as Error).message}`, { binary }, { cause: err });
}

/**
 * Starts a runtime process (`runc run`, `runc exec`) with `stdio`: the one place that decides how.
 * Natively (sys/spawn) unless stdin is a pipe we write to: that is a library caller or a test
 * streaming input, never the CLI's `run`, and child_process's writable pipe stream (with its
 * backpressure) is not worth redoing natively for them.
 *
 * @throws CairnError 'unsupported' when `binary` is not installed, 'process-failed' when it
 *   cannot be run.
 */
export function spawnRuntime(binary: string, args: readonly string[], stdio: readonly [StdioSlot, StdioSlot, StdioSlot], detached: boolean): RuntimeProcess {
  const [stdin, stdout, stderr] = stdio;
  // Its spawn failure arrives as an 'error' event: `track` makes it the same CairnError.
  if (stdin === 'pipe') return spawn(binary, args, { stdio: [stdin, stdout, stderr], detached });
  return spawnNative(binary, args, { stdio: [stdin, stdout, stderr], detached });
}

/** `spawnChild`, failing with the CairnError a runtime binary that cannot run gets. */
function spawnNative(binary: string, args: readonly string[], opts: ChildOptions): NativeChild {
  try {
    return spawnChild(binary, args, opts);
  } catch (err) {
    throw spawnError(err, binary);
  }
}

/** Watches `child` (already spawned) as described in `TrackOptions`. */
export function track(child: RuntimeProcess, binary: string, opts: TrackOptions): Launched {
  const exit = new Promise<{ status: number } | { error: CairnError }>((resolve) => {
    child.once('error', (err) => resolve({ error: spawnError(err, binary) }));
    child.once('exit', (code, signal) => {
      const status = exitStatus(code, signal);
      if (!opts.mapStatus) return resolve({ status });
      opts.mapStatus(status).then(
        (mapped) => resolve({ status: mapped }),
        () => resolve({ status }),
      );
    });
  });
  let exitedYet = false;
  void exit.then(() => {
    exitedYet = true;
  });

  const failed = (reason: string, status: number): CairnError =>
    new CairnError('process-failed', `${opts.what} failed: ${reason}`, { ...opts.data, reason, status });

  const started = (async (): Promise<number> => {
    let wake = (): void => undefined;
    const watcher = opts.pidFile === undefined ? null : watchArrival(opts.pidFile, () => wake());
    try {
      for (;;) {
        const done = exitedYet;
        // Armed before looking, so an arrival while `findPid` runs is not missed.
        const woken = new Promise<void>((resolve) => (wake = resolve));
        const pid = await opts.findPid();
        if (pid !== null) return pid;
        if (done) break;
        let timer: NodeJS.Timeout | undefined;
        const poll = new Promise<void>((resolve) => (timer = setTimeout(resolve, watcher ? BACKSTOP_MS : POLL_MS)));
        await Promise.race([poll, woken, exit]);
        clearTimeout(timer); // a pending backstop would hold a finished CLI open
      }
    } finally {
      watcher?.close();
    }
    const end = await exit;
    if ('error' in end) throw end.error;
    const reason = (await opts.startFailure(end.status, false)) ?? `the runtime exited with status ${end.status} before the process started`;
    throw failed(reason, end.status);
  })();

  const exited = (async (): Promise<number> => {
    const end = await exit;
    try {
      if ('error' in end) throw end.error;
      await started;
      const reason = await opts.startFailure(end.status, true);
      if (reason !== null) throw failed(reason, end.status);
      return end.status;
    } finally {
      await opts.finally?.();
    }
  })();

  // A caller may await only one of them; the other must not become an unhandled rejection.
  started.catch(() => undefined);
  exited.catch(() => undefined);
  let pid: number | null = null;
  started.then(
    (p) => {
      pid = p;
    },
    () => undefined,
  );
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (opts.signal) opts.signal(sig, pid);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  return {
    runtimePid: child.pid,
    stdin: child.stdin ?? null,
    stdout: child.stdout,
    stderr: opts.stderr === undefined ? child.stderr : opts.stderr,
    started,
    exited,
    signal,
  };
}

/** Runs `binary args` to completion, collecting its output (for short runtime commands). */
export async function runTool(binary: string, args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const child = spawnNative(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c) => out.push(c));
  child.stderr?.on('data', (c) => err.push(c));
  const status = await new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(spawnError(e, binary)));
    child.once('close', (code, signal) => resolve(exitStatus(code, signal)));
  });
  return { status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
