/**
 * @module runtime/types
 * The OCI runtime-spec `config.json` as cairn writes it (the subset we generate and read back),
 * and the `Runtime` interface that runs one: `runc` (runtime/runc) or util-linux `unshare`
 * (runtime/unshare), chosen by the caller (`--runtime runc|unshare`), never guessed.
 *
 * Field names and shapes are the runtime-spec's (config.md, config-linux.md), so a spec object
 * serialises straight to `config.json`. The objects are plain mutable data: the container module
 * may add mounts (volumes) or annotations before handing a spec to a runtime.
 */
import type { Writable } from 'node:stream';

/** runtime-spec `process.user`. */
export interface SpecUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** runtime-spec `process.capabilities`: `CAP_*` names. */
export interface SpecCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

/** runtime-spec POSIX rlimit (`RLIMIT_NOFILE`...). */
export interface SpecRlimit {
  type: string;
  soft: number;
  hard: number;
}

/** runtime-spec `process`: also the `process.json` of `runc exec --process`. */
export interface ProcessSpec {
  terminal?: boolean;
  user: SpecUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: SpecCapabilities;
  rlimits?: SpecRlimit[];
  noNewPrivileges?: boolean;
}

export interface SpecMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface SpecDeviceRule {
  allow: boolean;
  type?: 'a' | 'b' | 'c';
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxSpec {
  namespaces: { type: NamespaceType; path?: string }[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  resources?: { devices?: SpecDeviceRule[] };
  /** Set by the runtime driver (it knows the container id), not by spec generation. */
  cgroupsPath?: string;
}

/** An OCI runtime-spec `config.json`. */
export interface RuntimeSpec {
  ociVersion: string;
  process: ProcessSpec;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts: SpecMount[];
  annotations?: Record<string, string>;
  linux: LinuxSpec;
}

/**
 * `private`: own network namespace with only loopback, published ports reach it through the
 * port proxy (design §6; the default). `none`: the same namespace, and no ports may be published.
 * `host`: the host's network namespace.
 */
export type NetworkMode = 'private' | 'none' | 'host';

export type RuntimeName = 'runc' | 'unshare';

/**
 * Where a runtime keeps one container's state: all of it inside the caller's container
 * directory, so removing that directory removes every trace (no global runc state).
 */
export interface RuntimeContext {
  /** The runtime's name for the container (runc id; also its cgroup name). `[A-Za-z0-9_.+-]+`. */
  id: string;
  /** The runtime's private state directory (`runc --root`). */
  stateDir: string;
  /** The runtime's own log (`runc --log`, JSON lines). */
  logFile: string;
}

/** A child stdio slot, as `child_process.spawn` (and sys/spawn) take it. */
export type StdioSlot = 'pipe' | 'ignore' | 'inherit' | number;

export interface LaunchOptions extends RuntimeContext {
  /** A directory holding `config.json` (written by the caller from `spec`). */
  bundle: string;
  spec: RuntimeSpec;
  stdio: [StdioSlot, StdioSlot, StdioSlot];
  /** Where the runtime writes the container's first pid (host view). */
  pidFile: string;
  /**
   * Start the runtime in its own process group, so a terminal's Ctrl-C reaches it only through
   * the caller's signal forwarding (and reaches the container once, not twice).
   */
  detached?: boolean;
}

export interface ExecLaunchOptions extends RuntimeContext {
  /** The container's first process (host pid): the fallback enters its namespaces. */
  pid: number;
  /** The container's root filesystem on the host. */
  rootfs: string;
  process: ProcessSpec;
  stdio: [StdioSlot, StdioSlot, StdioSlot];
  /** A scratch file for `process.json` (removed when the process has ended). */
  processFile: string;
  /** As in `LaunchOptions`. */
  detached?: boolean;
}

/**
 * A container's output as the runtime hands it over: a sys/spawn `ChildOutput`, or a
 * `Readable` of child_process (the fallback). Only what the supervisor's copy needs.
 */
export interface OutputStream {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * A runtime process in the foreground: `runc run`/`runc exec` or `unshare`/`nsenter`, living as
 * long as the container process it runs, which is what lets us wait for the exit status.
 */
export interface Launched {
  /** The runtime process's pid (`runc`, `unshare`, `nsenter`); undefined when it never ran. */
  readonly runtimePid: number | undefined;
  /** The container process's own streams, for the stdio slots given as `'pipe'`. */
  readonly stdin: Writable | null;
  readonly stdout: OutputStream | null;
  readonly stderr: OutputStream | null;
  /**
   * The container process's host pid, once it exists. Rejects with CairnError('process-failed')
   * ("container start failed: <the runtime's reason>") when it never started.
   */
  readonly started: Promise<number>;
  /** Its exit status (128+N when killed by signal N). Rejects like `started` on a failed start. */
  readonly exited: Promise<number>;
  /**
   * Delivers a signal meant for the container process, the way a terminal user means it:
   * `runc` forwards what it receives (and handles SIGWINCH itself, resizing the pty); the
   * fallback's `unshare` ignores signals while it waits, so the process gets them directly.
   */
  signal(signal: NodeJS.Signals): void;
}

/**
 * One way of running containers. Implementations: `RuncRuntime`, `UnshareRuntime`; the container
 * module receives one (injection) or names one in its options.
 */
export interface Runtime {
  readonly name: RuntimeName;
  /** Starts the container described by `opts.spec`; the returned child lives as long as it does. */
  launch(opts: LaunchOptions): Promise<Launched>;
  /** Starts another process in the running container. */
  exec(opts: ExecLaunchOptions): Promise<Launched>;
  /** Sends `signal` to the container's first process (`runc kill`). */
  kill(ctx: RuntimeContext, pid: number, signal: NodeJS.Signals): Promise<void>;
  /** Kills whatever is left of the container and forgets it (`runc delete --force`). Idempotent. */
  delete(ctx: RuntimeContext, pid: number | null): Promise<void>;
  /**
   * A /bin/sh command line that does what `delete` does, for the watchdog that outlives a
   * killed supervisor (it has no node, only sh).
   */
  teardownCommand(ctx: RuntimeContext, pid: number): string;
}
