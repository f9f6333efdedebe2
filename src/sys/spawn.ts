/**
 * @module sys/spawn
 * Child processes started without forking node: `posix_spawnp` in the native addon (glibc runs
 * it as clone(CLONE_VM|CLONE_VFORK): the child borrows our memory until it execs), watched by a
 * thread of the addon's own that polls a pidfd and the output pipes.
 *
 * Why not `child_process.spawn`: libuv forks the whole ~50 MB node process (page tables copied,
 * then copy-on-write faults) and node wraps each pipe in a `net.Socket` stream; for a container
 * run that is ~10 ms of a ~0.2 s command. Here a child costs a spawn and a thread, and its
 * output arrives as plain Buffers on a small EventEmitter (node:events is loaded at node's start;
 * node:stream and node:net are not).
 *
 * What it offers is what the runtime drivers use: stdio slots (a pipe we read, /dev/null, ours,
 * or any fd), a new session, `exit` with code and signal, output that can be paused, signals by
 * pid. There is no stdin pipe: a caller that streams into a child uses child_process.
 */
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { native, sysError, type WatchHandle } from './native.js';

/** Where a child's fd 0, 1 or 2 goes: a pipe to read (1 and 2 only), /dev/null, ours, or this fd. */
export type ChildSlot = 'pipe' | 'ignore' | 'inherit' | number;

export interface ChildOptions {
  /** stdin, stdout, stderr. stdin cannot be `'pipe'`: nothing here writes to a child. */
  stdio: readonly [Exclude<ChildSlot, 'pipe'>, ChildSlot, ChildSlot];
  /** Start the child in a new session (setsid), as child_process's `detached`. */
  detached?: boolean;
}

/** The addon's event kinds (native/sys.c, `watch`). */
const EVENT = { data: 0, end: 1, exit: 2, error: 3, done: 4 } as const;

/** The addon's watchControl operations. */
const CONTROL = { pause: 0, resume: 1, close: 2, unref: 3, ref: 4 } as const;

/**
 * One output pipe of a child: `data` events (Buffers of up to 64 KiB, in order) until `close`
 * (end of file: every process holding the pipe's other end has closed it or exited).
 */
export class ChildOutput extends EventEmitter<{ data: [chunk: Buffer]; close: [] }> {
  readonly #control: (op: number) => void;
  #paused = false;
  #closed = false;
  /** Chunks (and the end, as null) that arrived while paused: the addon may have queued some. */
  #held: (Buffer | null)[] = [];

  /** @internal `control` asks the addon to pause or resume this pipe. */
  constructor(control: (op: number) => void) {
    super();
    this.#control = control;
  }

  /** Whether the pipe has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops reading the pipe (the child blocks once it is full) until `resume`. */
  pause(): this {
    if (!this.#paused && !this.#closed) {
      this.#paused = true;
      this.#control(CONTROL.pause);
    }
    return this;
  }

  /** Reads again: first what arrived while paused. */
  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    while (this.#held.length > 0 && !this.#paused) this.#deliver(this.#held.shift() ?? null);
    if (!this.#paused && !this.#closed) this.#control(CONTROL.resume);
    return this;
  }

  /** @internal A chunk, or the end (null), from the addon. */
  push(chunk: Buffer | null): void {
    if (this.#paused) this.#held.push(chunk);
    else this.#deliver(chunk);
  }

  #deliver(chunk: Buffer | null): void {
    if (chunk !== null) {
      this.emit('data', chunk);
    } else if (!this.#closed) {
      this.#closed = true;
      this.emit('close');
    }
  }
}

let signalNames: Map<number, NodeJS.Signals> | undefined;

function signalOf(signo: number): NodeJS.Signals | null {
  signalNames ??= new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
  return signalNames.get(signo) ?? null;
}

/**
 * A running child. Events: `exit` (code, signal) once it has been reaped — its output can still
 * follow; `close` (code, signal) once it has exited and both outputs have ended; `error` when
 * watching it failed (the exit is then unknown).
 */
export class NativeChild extends EventEmitter<{
  exit: [code: number | null, signal: NodeJS.Signals | null];
  close: [code: number | null, signal: NodeJS.Signals | null];
  error: [err: Error];
}> {
  readonly pid: number;
  readonly stdout: ChildOutput | null;
  readonly stderr: ChildOutput | null;
  readonly #handle: WatchHandle;
  #exitCode: number | null = null;
  #signalCode: NodeJS.Signals | null = null;
  #reaped = false;
  #closed = false;
  #done = false;

  /** @internal Watches `pid` and takes the read ends `outputs` (-1 for none). */
  constructor(pid: number, outputs: readonly [number, number]) {
    super();
    this.pid = pid;
    const sys = native();
    const streams = outputs.map((fd, i) => (fd < 0 ? null : new ChildOutput((op) => this.#control(op, i))));
    this.stdout = streams[0] ?? null;
    this.stderr = streams[1] ?? null;
    const handle = sys.watch(pid, outputs, (kind, a, b) => this.#event(kind, a, b));
    if (typeof handle === 'number') {
      // Nothing can report its exit: do not leave it running unwatched.
      process.kill(pid, 'SIGKILL');
      throw sysError('pidfd_open', -handle);
    }
    this.#handle = handle;
  }

  /** The exit code once it has exited normally, else null. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** The signal that killed it, else null. */
  get signalCode(): NodeJS.Signals | null {
    return this.#signalCode;
  }

  #control(op: number, stream = 0): void {
    if (!this.#done) native().watchControl(this.#handle, op, stream);
  }

  #event(kind: number, a: number, b: Buffer | number | string): void {
    const stream = a === 0 ? this.stdout : this.stderr;
    switch (kind) {
      case EVENT.data:
        stream?.push(b as Buffer);
        break;
      case EVENT.end:
        stream?.push(null);
        break;
      case EVENT.exit:
        this.#reaped = true;
        this.#exitCode = a >= 0 ? a : null;
        this.#signalCode = a >= 0 ? null : signalOf(b as number);
        this.emit('exit', this.#exitCode, this.#signalCode);
        break;
      case EVENT.error:
        this.emit('error', sysError(b as string, -a));
        break;
      case EVENT.done:
        this.#done = true;
        // Streams still paused keep what they hold; their end comes when they resume.
        if (this.#reaped) this.emit('close', this.#exitCode, this.#signalCode);
        break;
    }
  }

  /**
   * Sends `signal` unless the child has been reaped, or may have been unseen after `close` (its
   * pid may belong to another process by then). False when it was not sent.
   */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.#reaped || this.#closed) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false; // already gone
    }
  }

  /** Lets the process exit while the child runs (the watch goes on, without holding it open). */
  unref(): void {
    this.#control(CONTROL.unref);
  }

  /** Undoes `unref`. */
  ref(): void {
    this.#control(CONTROL.ref);
  }

  /**
   * Stops watching: no more events, the pipes are closed. A child still running is left to run;
   * it is reaped when it exits (no zombie) without holding this process open.
   */
  close(): void {
    this.#closed = true;
    this.#control(CONTROL.close);
    this.#control(CONTROL.unref);
  }
}

/**
 * Starts `file` (looked up on PATH) with `args`, our environment, and the given stdio.
 *
 * @throws a Node-style system error (`code` ENOENT when `file` is not found, EACCES...), as
 *   child_process reports them, with `syscall` `spawn` and `path` `file`.
 */
export function spawnChild(file: string, args: readonly string[], opts: ChildOptions): NativeChild {
  const sys = native();
  const fds: [number, number, number] = [-1, -1, -1];
  const outputs: [number, number] = [-1, -1];
  const ours: number[] = []; // the pipes' write ends: the child's now, closed here after the spawn
  let pid: number;
  try {
    opts.stdio.forEach((slot, i) => {
      if (slot === 'pipe') {
        if (i === 0) throw new TypeError('stdin cannot be a pipe: nothing here writes to a child');
        const pipe = sys.pipe();
        if (typeof pipe === 'number') throw sysError('pipe', -pipe);
        [outputs[i - 1], fds[i]] = pipe;
        ours.push(pipe[1]);
      } else {
        fds[i] = slot === 'ignore' ? -1 : slot === 'inherit' ? i : slot;
      }
    });
    pid = sys.spawn(file, [file, ...args], null, fds, opts.detached ?? false);
    if (pid < 0) throw sysError('spawn', -pid, file);
  } catch (err) {
    for (const fd of outputs) if (fd >= 0) closeSync(fd);
    throw err;
  } finally {
    for (const fd of ours) closeSync(fd);
  }
  return new NativeChild(pid, outputs);
}
