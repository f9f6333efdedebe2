/**
 * @module runtime/state
 * `<containerDir>/state.json`: what a container is doing, written only by the process that
 * supervises it (the detached supervisor, or the CLI process of an attached run) and read by
 * everyone else.
 *
 * Writes are atomic (temp file + rename), so a reader sees the old state or the new one, never a
 * torn file. They are not fsynced: after a machine crash nothing is running anyway, and the
 * liveness check below turns any stale "running" into "exited" — a lost update costs nothing.
 *
 * Liveness: a state that says created/running names its supervisor by pid *and* start time. A
 * reader that finds that process gone (SIGKILL, OOM, crash) reports the container exited, and
 * is the one that cleans up (runtime/reconcile): it kills whatever is left of the container, does
 * the supervisor's exit actions and records the exit, once. The watchdog of a detached container
 * normally got there first (runtime/watchdog).
 *
 * The state is a few hundred bytes, read and written with synchronous calls: every container
 * command reads it, and a start writes it twice, where each thread-pool round trip of a
 * promise-based call costs more than the syscall.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../sys/atomic.js';
import { CairnError, errnoCode } from '../errors.js';
import { isAlive, type ProcessIdentity } from './proc.js';
import type { RuntimeContext, RuntimeName } from './types.js';
import type { ExitActions } from './exit-actions.js';
import type { PortMapping } from './ports.js';

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerState {
  version: 1;
  /** The runtime's id for the container. */
  id: string;
  runtime: RuntimeName;
  /** The runtime binary, when it is not the default (a path, for the watchdog and readers). */
  runtimeBinary?: string;
  status: ContainerStatus;
  /** The container's first process, host view; null until it started. */
  pid: ProcessIdentity | null;
  /** The process responsible for this container: its exit is noticed through it. */
  supervisor: ProcessIdentity & { detached: boolean };
  /** Set once exited: the process's status, 128+N for signal N; 125–127 when it never started. */
  exitCode: number | null;
  /** Why it never started, or that its supervisor died. */
  error?: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Published ports as bound (a requested port 0 shows the port the kernel chose). */
  ports: PortMapping[];
  /** The supervisor's cleanup after the exit, for whoever finishes the container if it dies. */
  onExit?: ExitActions;
}

/** The files of one container that the runtime layer owns, all under `containerDir`. */
export interface ContainerPaths {
  dir: string;
  state: string;
  /** The bundle is the container dir itself: `config.json` beside the state. */
  config: string;
  /** Runtime state root (`runc --root`). */
  runtimeState: string;
  runtimeLog: string;
  pidFile: string;
  /** The container's output, JSON lines (`{"log","stream","time"}`), like docker's json-file. */
  log: string;
  supervisorConfig: string;
  /** The supervisor's own stderr: only its crashes land here. */
  supervisorLog: string;
  /** Held (flock) by the watchdog for its whole life: taking it waits out a teardown under way. */
  watchdogLock: string;
}

export function containerPaths(containerDir: string): ContainerPaths {
  const dir = path.resolve(containerDir);
  return {
    dir,
    state: path.join(dir, 'state.json'),
    config: path.join(dir, 'config.json'),
    runtimeState: path.join(dir, 'runtime'),
    runtimeLog: path.join(dir, 'runtime.log'),
    pidFile: path.join(dir, 'container.pid'),
    log: path.join(dir, 'container.log'),
    supervisorConfig: path.join(dir, 'supervisor.json'),
    supervisorLog: path.join(dir, 'supervisor.log'),
    watchdogLock: path.join(dir, 'watchdog.lock'),
  };
}

/** The runtime context of a container whose runtime id is `id`. */
export function runtimeContext(paths: ContainerPaths, id: string): RuntimeContext {
  return { id, stateDir: paths.runtimeState, logFile: paths.runtimeLog };
}

/** Replaces `file` atomically (no fsync: see the module comment). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, 0o644, { durable: false });
}

export async function writeState(paths: ContainerPaths, state: ContainerState): Promise<void> {
  mkdirSync(paths.dir, { recursive: true });
  await writeJsonAtomic(paths.state, state);
}

/**
 * The recorded state, as written (no liveness check), or null when there is none.
 * @throws CairnError 'corrupt' for a state file that does not parse.
 */
export async function readRecordedState(paths: ContainerPaths): Promise<ContainerState | null> {
  let text: string;
  try {
    // Synchronous: a small file (see sys/atomic), read by every commit and state query.
    text = readFileSync(paths.state, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
  try {
    const state = JSON.parse(text) as ContainerState;
    if (state.version !== 1 || typeof state.status !== 'string') throw new Error(`unknown version ${String(state.version)}`);
    return state;
  } catch (err) {
    throw new CairnError('corrupt', `${paths.state} is not a container state: ${(err as Error).message}`, { file: paths.state }, { cause: err });
  }
}

/** Whether `state` says the container is created or running but its supervisor is gone. */
export async function supervisorLost(state: ContainerState): Promise<boolean> {
  return state.status !== 'exited' && !(await isAlive(state.supervisor));
}
