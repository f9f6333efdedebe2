/**
 * @module runtime/supervisor
 * Watching one container from start to exit: the code that runs inside the detached supervisor
 * process (supervisor-main) and, for an attached run, inside the CLI process itself.
 *
 * In order: bind the published ports (a port in use fails here, before anything runs); record
 * `created`; launch the runtime; once the container's pid exists, point the port proxy at its
 * network namespace, record `running` and start the watchdog (attached: after a short while); copy
 * stdout/stderr to the JSON log (and to the attached streams); when it exits, stop the proxy, finish the log, do the exit
 * actions (unmount the root filesystem; with `--rm`, remove the container), record `exited`.
 *
 * If we die instead (SIGKILL, crash), the watchdog (runtime/watchdog) tears the container down and
 * does the exit actions, and readers see the dead supervisor and record the exit
 * (runtime/reconcile). The exit actions are in the state for them.
 *
 * Output on stderr is held back until the container has started: until then only the runtime
 * writes there (runc's "runc run failed: ..."), and that text belongs in the error, not the log.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { digestHex } from '../digest/digest.js';
import { digestOf } from '../digest/hasher.js';
import { CairnError, isCairnError } from '../errors.js';
import { removeContainerDir, unmountAll, type ExitActions } from './exit-actions.js';
import { LogWriter, type LogStream } from './logs.js';
import { PortProxy, type PortMapping } from './ports.js';
import { identityOf, selfIdentity } from './proc.js';
import { runtimeContext, writeState, type ContainerPaths, type ContainerState } from './state.js';
import type { Launched, OutputStream, Runtime, RuntimeSpec, StdioSlot } from './types.js';
import { finishWatchdog, startWatchdog, type Watchdog } from './watchdog.js';

/**
 * How long an attached container runs before it gets a watchdog. Most `run --rm IMAGE CMD`
 * containers are over sooner and never pay for starting one (flock and a shell: a few ms of CPU
 * in a 0.2 s run). Should the CLI die within this time, readers still finish the
 * container (runtime/reconcile, from the exit actions in the state), only later.
 */
const ATTACHED_WATCHDOG_AFTER_MS = 50;

/** Where the container's stdio goes. */
export interface SupervisedIO {
  /** The container's stdin: a stream we copy in, the caller's own (`inherit`), or none (/dev/null). */
  stdin?: Readable | 'inherit';
  stdout?: Writable;
  stderr?: Writable;
  /** Give the runtime the caller's terminal as is (`-it` on a real TTY): no log, no copying. */
  inheritTerminal?: boolean;
  /** Copy the output into the JSON log too (default true). */
  log?: boolean;
  /**
   * A terminal (pty slave descriptor) for the runtime's own stderr, for a detached container
   * with `-t`: runc makes the container's pty but runs it only from a terminal of its own, and
   * copies the container's output to its stdout, which is logged as usual.
   */
  runtimeTerminal?: number;
}

export interface SuperviseOptions {
  paths: ContainerPaths;
  /** The runtime's id for the container. */
  id: string;
  spec: RuntimeSpec;
  runtime: Runtime;
  /** The binary the runtime runs, when not its default (recorded for later readers). */
  runtimeBinary?: string;
  ports?: readonly PortMapping[];
  /** Whether this process is a detached supervisor (recorded in the state). */
  detached: boolean;
  io: SupervisedIO;
  /** Start the watchdog (default true). */
  watchdog?: boolean;
  /** What to clean up once the container has exited by itself or was stopped (detached runs). */
  onExit?: ExitActions;
}

/** docker's exit codes for a container that never ran: 127 not found, 126 not executable, 125 other. */
export function startFailureCode(reason: string): number {
  if (/not found|no such file/i.test(reason)) return 127;
  if (/permission denied|not executable/i.test(reason)) return 126;
  return 125;
}

/** One supervised container run. */
export class Supervision {
  /** The state once running; rejects (after recording `exited`) when the container never started. */
  readonly started: Promise<ContainerState>;
  /** The final state. Never rejects: a failed start is an exited state with `error`. */
  readonly finished: Promise<ContainerState>;
  readonly #launched: Launched | undefined;

  private constructor(started: Promise<ContainerState>, finished: Promise<ContainerState>, launched: Launched | undefined) {
    this.started = started;
    this.finished = finished;
    this.#launched = launched;
    started.catch(() => undefined);
  }

  /** Delivers `signal` to the container process (see `Launched.signal`). */
  signal(signal: NodeJS.Signals): void {
    this.#launched?.signal(signal);
  }

  /**
   * Starts supervising. Resolves once the runtime is launched (not yet started); a port that
   * cannot be bound or a runtime that cannot be launched rejects, after recording `exited`.
   */
  static async begin(options: SuperviseOptions): Promise<Supervision> {
    const { paths } = options;
    const opts = { ...options, spec: withCgroupsPath(options.spec, options.id, paths.dir) };
    const identity = await selfIdentity();
    mkdirSync(paths.runtimeState, { recursive: true });
    const self = { ...identity, detached: opts.detached };
    let state: ContainerState = {
      version: 1,
      id: opts.id,
      runtime: opts.runtime.name,
      ...(opts.runtimeBinary ? { runtimeBinary: opts.runtimeBinary } : {}),
      status: 'created',
      pid: null,
      supervisor: self,
      exitCode: null,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      ports: [...(opts.ports ?? [])],
      ...(opts.onExit ? { onExit: opts.onExit } : {}),
    };
    // Writes are chained: two renames in flight could land in either order.
    let writing: Promise<void> = Promise.resolve();
    const record = (next: ContainerState): Promise<ContainerState> => {
      state = next;
      writing = writing.then(() => writeState(paths, next));
      return writing.then(() => next);
    };
    const fail = async (err: unknown): Promise<never> => {
      const message = err instanceof Error ? err.message : String(err);
      const reason = isCairnError(err) && typeof err.data.reason === 'string' ? err.data.reason : message;
      await record({ ...state, status: 'exited', exitCode: startFailureCode(reason), error: message, finishedAt: new Date().toISOString() });
      throw err;
    };

    let proxy: PortProxy | undefined;
    try {
      // A few kilobytes: written synchronously, which costs less than a thread-pool round trip.
      writeFileSync(paths.config, JSON.stringify(opts.spec));
      if (opts.ports && opts.ports.length > 0) {
        proxy = await PortProxy.listen(opts.ports);
        state.ports = proxy.bound;
      }
    } catch (err) {
      return fail(err);
    }
    await record(state);

    const io = opts.io;
    const log = io.inheritTerminal || io.log === false ? null : new LogWriter(paths.log);
    const stdio: [StdioSlot, StdioSlot, StdioSlot] = io.inheritTerminal
      ? ['inherit', 'inherit', 'inherit']
      : [io.stdin === 'inherit' ? 'inherit' : io.stdin ? 'pipe' : 'ignore', 'pipe', io.runtimeTerminal ?? 'pipe'];
    let launched: Launched;
    try {
      launched = await opts.runtime.launch({
        ...runtimeContext(paths, opts.id),
        bundle: paths.dir,
        spec: opts.spec,
        stdio,
        pidFile: paths.pidFile,
        detached: true,
      });
    } catch (err) {
      await proxy?.close();
      await log?.close();
      return fail(err);
    }
    const outputs = attachStreams(launched, io, log);

    let watchdog: Watchdog | undefined;
    let watchdogTimer: NodeJS.Timeout | undefined;
    const started = launched.started.then(
      async (pid) => {
        proxy?.attach(pid);
        const identity = await identityOf(pid);
        const running: ContainerState = { ...state, status: 'running', pid: identity ?? { pid, startTime: 0 }, startedAt: new Date().toISOString() };
        // A container process that is gone already (a short `run --rm` often ends before its
        // start is noticed) leaves the runtime to finish and clean up on its own: no watchdog,
        // and no `running` on disk, which `exited` replaces a moment later (each state write
        // is a new file, and creating one costs this VM's ext4 more than all else it does).
        if (identity === null) {
          state = running;
          return running;
        }
        if (opts.watchdog !== false) {
          const teardown = opts.runtime.teardownCommand(runtimeContext(paths, opts.id), pid);
          const start = (): void => void (watchdog = startWatchdog(paths, teardown, opts.onExit));
          // A detached supervisor's watchdog starts at once: `run -d` returns when the container
          // runs, and from then on it must be guarded. An attached run's caller is still here.
          if (opts.detached) start();
          else watchdogTimer = setTimeout(start, ATTACHED_WATCHDOG_AFTER_MS);
        }
        return record(running);
      },
      async (err: unknown) => {
        await proxy?.close();
        await outputs;
        await log?.close();
        return fail(err);
      },
    );

    const finished = (async (): Promise<ContainerState> => {
      let exitCode: number;
      try {
        await started;
        exitCode = await launched.exited;
      } catch (err) {
        if (state.status === 'exited') return state; // a failed start, already recorded
        exitCode = 125;
        state.error = err instanceof Error ? err.message : String(err);
      }
      clearTimeout(watchdogTimer);
      await proxy?.close();
      // The pipes close when the last process holding them is gone (the pid namespace dies with
      // pid 1); a wait bound keeps a wedged pipe from holding the exit forever.
      await withTimeout(outputs, 2000);
      await log?.close();
      // Unmounted first: whoever reads `exited` finds nothing left mounted.
      await unmountAll(opts.onExit?.unmount ?? []);
      const final = await record({ ...state, status: 'exited', exitCode, finishedAt: new Date().toISOString() });
      await finishWatchdog(watchdog);
      rmSync(paths.pidFile, { force: true });
      if (opts.onExit?.remove) await removeContainerDir(paths.dir);
      return final;
    })();
    return new Supervision(started, finished, launched);
  }
}

/**
 * Gives the spec a cgroup of its own unless it names one. runc's default is `<its own
 * cgroup>/<id>` for every container directory alike, so two containers with the same id in two
 * directories (two test runs, two stores) would share a cgroup, and tearing one down could kill
 * the other. The directory's hash makes the name unique per container directory; it is flat, so
 * nothing is left behind when runc removes it.
 */
export function withCgroupsPath(spec: RuntimeSpec, id: string, dir: string): RuntimeSpec {
  if (spec.linux.cgroupsPath) return spec;
  const hash = digestHex(digestOf(dir)).slice(0, 12);
  return { ...spec, linux: { ...spec.linux, cgroupsPath: `cairn-${id.slice(0, 64)}-${hash}` } };
}

/**
 * Connects the container's streams to `io` (and `log`); resolves when both outputs have ended.
 * stderr is gated on the start (see the module comment).
 */
export function attachStreams(launched: Launched, io: SupervisedIO, log: LogWriter | null): Promise<void> {
  if (io.stdin && io.stdin !== 'inherit' && launched.stdin) {
    launched.stdin.on('error', () => undefined); // EPIPE once the container stops reading
    io.stdin.pipe(launched.stdin);
  }
  return Promise.all([
    copyOutput(launched.stdout, 'stdout', log, io.stdout, null),
    copyOutput(launched.stderr, 'stderr', log, io.stderr, launched.started),
  ]).then(() => undefined);
}

/**
 * Copies one output stream to the log and the attached stream until it ends. With `gate`,
 * holds the chunks until the gate resolves and drops them if it rejects (runtime error text).
 */
function copyOutput(
  source: OutputStream | null,
  stream: LogStream,
  log: LogWriter | null,
  target: Writable | undefined,
  gate: Promise<number> | null,
): Promise<void> {
  if (!source) return Promise.resolve();
  let held: Buffer[] | null = gate ? [] : null;
  const deliver = (chunk: Buffer): void => {
    log?.write(stream, chunk);
    if (target && !target.write(chunk)) {
      source.pause();
      target.once('drain', () => source.resume());
    }
  };
  gate?.then(
    () => {
      for (const chunk of held ?? []) deliver(chunk);
      held = null;
    },
    () => {
      held = [];
    },
  );
  source.on('data', (chunk: Buffer) => {
    if (held) held.push(chunk);
    else deliver(chunk);
  });
  return new Promise((resolve) => {
    source.once('close', () => {
      // A gate still pending at the end settles soon (the runtime has exited): wait for it.
      void (gate ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => {
          log?.flush(stream);
          resolve();
        });
    });
  });
}

/** `p`, or nothing once `ms` have passed; the timer never outlives it (a CLI must exit promptly). */
function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).then(() => clearTimeout(timer));
}

/** What supervisor-main sends on its ready pipe; an error is rebuilt as a CairnError by the starter. */
export interface ReadyMessage {
  ok: boolean;
  state?: ContainerState;
  error?: { code: string; message: string; data: Record<string, unknown> };
}

export function readyError(msg: ReadyMessage): CairnError {
  const e = msg.error ?? { code: 'process-failed', message: 'the supervisor failed without a reason', data: {} };
  return new CairnError(e.code as CairnError['code'], e.message, e.data);
}
