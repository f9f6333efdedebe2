/**
 * @module runtime/control
 * The runtime layer's API for the container module: run a prepared rootfs attached or detached,
 * then stop, kill, exec into, read the state and logs of, and clean up after a container — all
 * keyed by the container's directory, which holds everything (state.json, config.json, logs,
 * the runtime's private state). See `spec-notes/runtime-config.md` for the whole picture.
 *
 * Every function reads the state through `readState`, which notices a dead supervisor and
 * finishes the container off (runtime/state), so callers never see a stale "running".
 *
 * @example
 * const spec = await generateSpec(imageConfig, { rootfs, hostname: id.slice(0, 12) });
 * await startDetached({ containerDir, id, spec, ports: [parsePublish('8080:80')] });
 * await exec(containerDir, { args: ['sh', '-c', 'echo hi > /www/index.html'] });
 * await stop(containerDir, { timeoutSec: 10 });
 * await cleanup(containerDir);
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomHex } from '../sys/crypto.js';
import { CairnError, errnoCode } from '../errors.js';
import type { ExitActions } from './exit-actions.js';
import { forwardSignals, supervisedIO, type Stdio } from './io.js';
import { readLogFile, type FollowOptions, type LogLine } from './logs.js';
import type { PortMapping } from './ports.js';
import { delay, signalName } from './proc.js';
import { reconcileLost } from './reconcile.js';
import { RuncRuntime } from './runc.js';
import { execProcess, type ExecOptions } from './spec.js';
import {
  containerPaths,
  readRecordedState,
  runtimeContext,
  supervisorLost,
  type ContainerPaths,
  type ContainerState,
} from './state.js';
import { attachStreams, Supervision } from './supervisor.js';
import type { Runtime, RuntimeName, RuntimeSpec } from './types.js';
import { UnshareRuntime } from './unshare.js';

/** A runtime by name (`--runtime runc|unshare`); `binary` overrides runc's path. */
export function createRuntime(name: RuntimeName, opts: { binary?: string } = {}): Runtime {
  switch (name) {
    case 'runc':
      return new RuncRuntime(opts.binary ? { binary: opts.binary } : {});
    case 'unshare':
      return new UnshareRuntime();
    default:
      throw new CairnError('invalid-argument', `unknown runtime "${String(name)}": expected runc or unshare`, { runtime: name });
  }
}

/** A Runtime object, or a name to create one from (default runc). */
export type RuntimeChoice = Runtime | RuntimeName;

export function resolveRuntime(choice: RuntimeChoice | undefined, binary?: string): Runtime {
  if (choice === undefined || typeof choice === 'string') return createRuntime(choice ?? 'runc', binary ? { binary } : {});
  return choice;
}

/** The binary to record for `runtime` so another process can drive the same one. */
export function runtimeBinaryOf(runtime: Runtime): string | undefined {
  return runtime instanceof RuncRuntime && runtime.binary !== 'runc' ? runtime.binary : undefined;
}

export interface ContainerRunOptions {
  /** The container's directory (created if missing); all runtime files go here. */
  containerDir: string;
  /** The runtime's id (runc id and cgroup name). Default: the directory's name. */
  id?: string;
  spec: RuntimeSpec;
  ports?: readonly PortMapping[];
  runtime?: RuntimeChoice;
  /**
   * What the supervisor cleans up as soon as the container exits (by itself or stopped): mount
   * points to detach, and with `remove` the whole container directory (`--rm`). Recorded in the
   * state, so that if the supervisor dies its watchdog or the next reader does it instead.
   */
  onExit?: ExitActions;
}

export function runtimeId(opts: Pick<ContainerRunOptions, 'containerDir' | 'id'>): string {
  return opts.id ?? path.basename(path.resolve(opts.containerDir));
}

export interface AttachedOptions extends ContainerRunOptions {
  /** Default: discard the output (it is still logged). */
  stdio?: Stdio;
  /** Keep stdin open (`-i`). */
  interactive?: boolean;
  /** Forward SIGINT/SIGTERM/... (and SIGWINCH with a tty) to the container. Default: stdio is 'inherit'. */
  forwardSignals?: boolean;
}

/**
 * Runs the container in this process until it exits (`run` without `-d`); returns its exit
 * status. State and logs are kept as for a detached container, so `ps`, `logs` and `exec` work
 * meanwhile. A terminal comes from `spec.process.terminal`.
 *
 * @throws CairnError 'process-failed' ("container start failed: ...") when it never started,
 *   'conflict' when a published port is in use. Either way the state records the exit.
 */
export async function runAttached(opts: AttachedOptions): Promise<number> {
  await assertNotRunning(opts.containerDir);
  const tty = opts.spec.process.terminal ?? false;
  const runtime = resolveRuntime(opts.runtime);
  const binary = runtimeBinaryOf(runtime);
  const sup = await Supervision.begin({
    paths: containerPaths(opts.containerDir),
    id: runtimeId(opts),
    spec: opts.spec,
    runtime,
    ...(binary ? { runtimeBinary: binary } : {}),
    ...(opts.ports ? { ports: opts.ports } : {}),
    ...(opts.onExit ? { onExit: opts.onExit } : {}),
    detached: false,
    io: supervisedIO(opts.stdio, tty, opts.interactive ?? false),
  });
  const unforward = (opts.forwardSignals ?? opts.stdio === 'inherit') ? forwardSignals((sig) => sup.signal(sig), tty) : () => undefined;
  try {
    await sup.started;
    const final = await sup.finished;
    return final.exitCode ?? 125;
  } finally {
    unforward();
  }
}

/**
 * The container's state, or null when it has none. When the state says created/running but its
 * supervisor is dead, this finishes the container first (runtime/reconcile): kills what is left
 * of it, unmounts, and records it exited (137, with `error` saying why) — or, for `run -d --rm`,
 * removes it and returns null.
 */
export async function readState(containerDir: string, opts: { runtime?: Runtime } = {}): Promise<ContainerState | null> {
  const paths = containerPaths(containerDir);
  const state = await readRecordedState(paths);
  if (!state || !(await supervisorLost(state))) return state;
  return reconcileLost(paths, (last) => opts.runtime ?? resolveRuntime(last.runtime, last.runtimeBinary));
}

/**
 * Refuses to start a container whose state says it is still created or running (after the
 * liveness check: a dead supervisor's container is finished off first). One start at a time per
 * container directory is the caller's to serialise (the container module's lock).
 */
export async function assertNotRunning(containerDir: string): Promise<void> {
  const state = await readState(containerDir);
  if (state && state.status !== 'exited') {
    throw new CairnError('conflict', `container ${path.basename(path.resolve(containerDir))} is already running`, { containerDir, status: state.status });
  }
}

async function requireState(containerDir: string): Promise<{ paths: ContainerPaths; state: ContainerState }> {
  const paths = containerPaths(containerDir);
  const state = await readState(containerDir);
  if (!state) throw new CairnError('not-found', `no container state in ${paths.dir}`, { containerDir: paths.dir });
  return { paths, state };
}

async function readSpec(paths: ContainerPaths): Promise<RuntimeSpec> {
  return JSON.parse(await readFile(paths.config, 'utf8')) as RuntimeSpec;
}

/**
 * Polls until the container has exited; null when `timeoutMs` passes first, or when its state
 * is gone (a `--rm` container removed by its supervisor on exit).
 */
export async function waitExited(containerDir: string, timeoutMs: number): Promise<ContainerState | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await readState(containerDir);
    if (!state || state.status === 'exited') return state;
    if (Date.now() >= deadline) return null;
    await delay(Math.min(50, Math.max(1, deadline - Date.now())));
  }
}

/** Waits for a created container to be running (or exited). */
async function runningState(containerDir: string, state: ContainerState): Promise<ContainerState> {
  for (let i = 0; state.status === 'created' && i < 200; i++) {
    await delay(25);
    state = (await readState(containerDir)) ?? state;
  }
  return state;
}

/**
 * Stops the container like `docker stop -t`: its stop signal (the option, else the image's
 * StopSignal annotation, else SIGTERM), then SIGKILL after `timeoutSec` (default 10). Returns
 * the final state; an exited container is returned as is.
 */
export async function stop(containerDir: string, opts: { timeoutSec?: number; signal?: string | number } = {}): Promise<ContainerState> {
  const { paths, state: recorded } = await requireState(containerDir);
  const state = await runningState(containerDir, recorded);
  if (state.status === 'exited' || !state.pid) return state;
  const runtime = resolveRuntime(state.runtime, state.runtimeBinary);
  const ctx = runtimeContext(paths, state.id);
  const spec = await readSpec(paths);
  const signal = signalName(opts.signal ?? spec.annotations?.['org.opencontainers.image.stopSignal'] ?? 'SIGTERM');
  const timeoutMs = Math.max(0, (opts.timeoutSec ?? 10) * 1000);
  // A `--rm` container's supervisor deletes the directory on exit: a vanished state is an exit.
  const removed = async (): Promise<ContainerState | null> =>
    (await readRecordedState(paths)) === null ? { ...state, status: 'exited', exitCode: null, finishedAt: new Date().toISOString() } : null;
  if (signal !== 'SIGKILL' && timeoutMs > 0) {
    await runtime.kill(ctx, state.pid.pid, signal);
    const done = (await waitExited(containerDir, timeoutMs)) ?? (await removed());
    if (done) return done;
  }
  await runtime.kill(ctx, state.pid.pid, 'SIGKILL');
  const done = (await waitExited(containerDir, 10_000)) ?? (await removed());
  if (!done) throw new CairnError('process-failed', `the container did not exit after SIGKILL`, { containerDir: paths.dir });
  return done;
}

/**
 * Sends `signal` (default SIGKILL) to the container's first process.
 * @throws CairnError 'conflict' when it is not running.
 */
export async function kill(containerDir: string, signal: string | number = 'SIGKILL'): Promise<void> {
  const { paths, state: recorded } = await requireState(containerDir);
  const state = await runningState(containerDir, recorded);
  if (state.status !== 'running' || !state.pid) throw notRunning(paths);
  const runtime = resolveRuntime(state.runtime, state.runtimeBinary);
  await runtime.kill(runtimeContext(paths, state.id), state.pid.pid, signalName(signal));
}

function notRunning(paths: ContainerPaths): CairnError {
  return new CairnError('conflict', `container ${path.basename(paths.dir)} is not running`, { containerDir: paths.dir });
}

export interface ExecRunOptions extends ExecOptions {
  stdio?: Stdio;
  interactive?: boolean;
  forwardSignals?: boolean;
}

/**
 * Runs another process in the running container (`exec`) and returns its exit status. With
 * `tty` and `stdio: 'inherit'` it gets a pty of its own, for `exec -it` on a terminal.
 *
 * @throws CairnError 'conflict' when the container is not running; 'process-failed' ("exec
 *   failed: exec: \"x\": executable file not found in $PATH") when the process cannot start.
 */
export async function exec(containerDir: string, opts: ExecRunOptions): Promise<number> {
  const { paths, state } = await requireState(containerDir);
  if (state.status !== 'running' || !state.pid) throw notRunning(paths);
  const spec = await readSpec(paths);
  const processSpec = await execProcess(spec, spec.root.path, opts);
  const runtime = resolveRuntime(state.runtime, state.runtimeBinary);
  const tty = opts.tty ?? false;
  const io = supervisedIO(opts.stdio, tty, opts.interactive ?? false);
  const scratch = path.join(paths.dir, `exec-${randomHex(6)}`);
  const logFile = `${scratch}.log`;
  try {
    const launched = await runtime.exec({
      ...runtimeContext(paths, state.id),
      logFile,
      pid: state.pid.pid,
      rootfs: spec.root.path,
      process: processSpec,
      stdio: io.inheritTerminal ? ['inherit', 'inherit', 'inherit'] : [io.stdin === 'inherit' ? 'inherit' : io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      processFile: `${scratch}.json`,
      detached: true,
    });
    const outputs = attachStreams(launched, io, null);
    const unforward = (opts.forwardSignals ?? opts.stdio === 'inherit') ? forwardSignals((sig) => launched.signal(sig), tty) : () => undefined;
    try {
      const status = await launched.exited;
      await outputs;
      return status;
    } finally {
      unforward();
    }
  } finally {
    await rm(logFile, { force: true });
  }
}

/**
 * The container's log lines (`docker logs`); with `follow`, keeps yielding until it has exited.
 *
 * @example
 * for await (const line of followLogs(dir, { follow: true })) (line.stream === 'stderr' ? stderr : stdout).write(line.log);
 */
export function followLogs(containerDir: string, opts: Omit<FollowOptions, 'finished'> = {}): AsyncIterable<LogLine> {
  return readLogFile(containerPaths(containerDir).log, {
    ...opts,
    finished: async () => {
      const state = await readState(containerDir);
      return !state || state.status === 'exited';
    },
  });
}

/**
 * Ends what the runtime keeps of a container (`runc delete --force`: its state and cgroups),
 * leaving every file in the directory, for a caller that deletes the directory next.
 *
 * @throws CairnError 'conflict' when the container is running and `force` is not set; with
 *   `force` it is killed first.
 */
export async function releaseRuntime(containerDir: string, opts: { force?: boolean } = {}): Promise<void> {
  const paths = containerPaths(containerDir);
  let state = await readState(containerDir);
  if (state && state.status !== 'exited') {
    if (!opts.force) throw new CairnError('conflict', `container ${path.basename(paths.dir)} is running: stop it first`, { containerDir: paths.dir });
    state = await stop(containerDir, { timeoutSec: 0 });
  }
  if (state) {
    const runtime = resolveRuntime(state.runtime, state.runtimeBinary);
    await runtime.delete(runtimeContext(paths, state.id), null);
  }
}

/**
 * Removes every runtime trace of an exited container: the runtime's state and cgroups
 * (`releaseRuntime`), the pid file and scratch files. Leaves state.json, config.json and the
 * logs to the container module (its `rm` deletes the directory).
 *
 * @throws CairnError 'conflict' when the container is running and `force` is not set; with
 *   `force` it is killed first.
 */
export async function cleanup(containerDir: string, opts: { force?: boolean } = {}): Promise<void> {
  await releaseRuntime(containerDir, opts);
  const paths = containerPaths(containerDir);
  await Promise.all(
    [paths.runtimeState, paths.runtimeLog, paths.pidFile, paths.supervisorConfig].map(async (file) => {
      try {
        await rm(file, { recursive: true, force: true });
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }),
  );
}
