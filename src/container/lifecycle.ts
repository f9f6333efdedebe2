/**
 * @module container/lifecycle
 * start / stop / kill / rm / status of containers: the record and root filesystem of this
 * module on one side, the runtime's supervision (src/runtime) on the other. The root filesystem
 * is mounted before a process starts and unmounted when the container is stopped or removed.
 */
import { rm } from 'node:fs/promises';
import { CairnError } from '../errors.js';
import { readConfig } from '../image/list.js';
import type { ImageConfig } from '../oci/index.js';
import { cleanup, exec, followLogs, kill, readState, releaseRuntime, runAttached, stop, type ExecRunOptions } from '../runtime/control.js';
import type { Stdio } from '../runtime/io.js';
import type { LogLine } from '../runtime/logs.js';
import { generateSpec } from '../runtime/spec.js';
import type { ContainerState } from '../runtime/state.js';
import type { RuntimeSpec, SpecMount } from '../runtime/types.js';
import type { Store } from '../store/store.js';
import { imageOf } from './image.js';
import { containerDirs, findContainer, listRecords, readRecord, type ContainerRecord } from './record.js';
import { mountRootfs, unmountRootfs } from './rootfs.js';

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerInfo {
  readonly record: ContainerRecord;
  readonly status: ContainerStatus;
  readonly state: ContainerState | null;
}

/** The image config a container was made from (read from the store; its record pins it). */
export async function imageConfigOf(store: Store, record: ContainerRecord): Promise<ImageConfig> {
  return readConfig(store, await imageOf(store, record));
}

/** The runtime spec for the container's main process (users resolve in the mounted rootfs). */
async function specFor(store: Store, record: ContainerRecord, rootfs: string, imageConfig?: ImageConfig): Promise<RuntimeSpec> {
  return generateSpec(imageConfig ?? (await imageConfigOf(store, record)), {
    rootfs,
    ...(record.args.length > 0 ? { args: record.args } : {}),
    ...(record.entrypoint !== undefined ? { entrypoint: record.entrypoint } : {}),
    env: record.env,
    ...(record.workdir !== undefined ? { workdir: record.workdir } : {}),
    ...(record.user !== undefined ? { user: record.user } : {}),
    ...(record.hostname !== undefined ? { hostname: record.hostname } : {}),
    tty: record.tty,
    network: record.network,
  });
}

export async function inspectContainer(store: Store, record: ContainerRecord): Promise<ContainerInfo> {
  const state = await readState(containerDirs(store, record.id).dir);
  return { record, state, status: state?.status ?? 'created' };
}

export async function listContainers(store: Store): Promise<ContainerInfo[]> {
  const infos = await Promise.all((await listRecords(store)).map((record) => inspectContainer(store, record)));
  const kept = await Promise.all(infos.map((info) => info.state !== null || stillRecorded(store, info.record)));
  return infos.filter((_, i) => kept[i]);
}

/**
 * Whether the container's record is still there. A `run -d --rm` container whose supervisor died
 * is removed by the read that notices (runtime/reconcile), which then finds no state: such a
 * container is gone, not created.
 */
async function stillRecorded(store: Store, record: ContainerRecord): Promise<boolean> {
  return (await readRecord(store, record.id)) !== undefined;
}

export interface StartOptions {
  /** Run in this process until the container exits, with these streams; default: detached. */
  readonly attach?: Stdio;
  /** Forward signals to the container (attached runs on a terminal). */
  readonly forwardSignals?: boolean;
  /** More mounts for this start only (the builder's RUN --mount cache dirs and heredoc files). */
  readonly mounts?: readonly SpecMount[];
  /**
   * The container's image config when the caller holds it already (`run`: create just read it),
   * which spares reading and checking the manifest and config again. Default: read from the store.
   */
  readonly imageConfig?: ImageConfig;
}

/**
 * Starts a created or exited container. Detached: resolves once it is running (the supervisor
 * keeps it, its logs and its ports after this process exits, and when it exits unmounts its
 * root filesystem and, for `--rm`, removes it). Attached: resolves with its exit status;
 * `--rm` containers are removed then.
 *
 * @throws CairnError 'conflict' when it is running or a port is taken, 'process-failed' when the
 *   process cannot start (the message says why, e.g. an executable not found).
 */
export async function startContainer(store: Store, record: ContainerRecord, options: StartOptions = {}): Promise<number | ContainerState> {
  const dirs = containerDirs(store, record.id);
  const current = await readState(dirs.dir);
  if (!current && !(await stillRecorded(store, record))) throw new CairnError('not-found', `no such container: ${record.name}`, { reference: record.name });
  if (current && current.status !== 'exited') throw new CairnError('conflict', `container ${record.name} is already running`, { id: record.id });
  if (current) await cleanup(dirs.dir);
  const rootfs = await mountRootfs(store, record);
  const spec = await specFor(store, record, rootfs, options.imageConfig);
  if (options.mounts) spec.mounts.push(...options.mounts.map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })));
  // The supervisor cleans up when the process exits, whenever that is: no later command needed.
  // Recorded in the state for attached runs too, so that a CLI killed mid-run (SIGKILL) leaves
  // its watchdog or the next reader (runtime/reconcile) to unmount and, for --rm, remove it.
  const onExit = { unmount: record.rootfs === 'overlay' ? [dirs.rootfs] : [], remove: record.autoRemove };
  const common = { containerDir: dirs.dir, id: record.id, spec, ports: record.ports, runtime: record.runtime, onExit };
  try {
    if (options.attach === undefined) {
      const { startDetached } = await import('../runtime/detach.js');
      return await startDetached({ ...common, interactive: record.interactive });
    }
    return await runAttached({
      ...common,
      stdio: options.attach,
      interactive: record.interactive,
      ...(options.forwardSignals !== undefined ? { forwardSignals: options.forwardSignals } : {}),
    });
  } catch (err) {
    // A run that ends normally had its supervisor do the exit actions; one that failed may not.
    if (record.autoRemove) await removeContainer(store, record, { force: true });
    else await unmountRootfs(store, record);
    throw err;
  }
}

/** `docker stop -t`: the stop signal, then SIGKILL after `timeoutSec`; unmounts the rootfs. */
export async function stopContainer(store: Store, record: ContainerRecord, options: { timeoutSec?: number } = {}): Promise<void> {
  const dirs = containerDirs(store, record.id);
  if (await readState(dirs.dir)) await stop(dirs.dir, options.timeoutSec !== undefined ? { timeoutSec: options.timeoutSec } : {});
  await unmountRootfs(store, record);
  if (record.autoRemove) await removeContainer(store, record, { force: true });
}

/**
 * The runtime names a container by its directory (the 64-hex ID); users named it by its name.
 * Turns "container <id> is not running" (and a container never started) into that.
 */
async function named<T>(record: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CairnError && (err.code === 'conflict' || err.code === 'not-found') && /is not running|no container state/.test(err.message)) {
      throw new CairnError('conflict', `container ${record.name} is not running`, { id: record.id }, { cause: err });
    }
    throw err;
  }
}

/** @throws CairnError 'conflict' when the container is not running. */
export async function killContainer(store: Store, record: ContainerRecord, signal: string | number = 'SIGKILL'): Promise<void> {
  await named(record, () => kill(containerDirs(store, record.id).dir, signal));
}

/**
 * Removes a container: its runtime state, mount, upper layer, logs and record.
 * @throws CairnError 'conflict' when it is running and `force` is not set.
 */
export async function removeContainer(store: Store, record: ContainerRecord, options: { force?: boolean } = {}): Promise<void> {
  const dirs = containerDirs(store, record.id);
  try {
    // Only the runtime's hold: the files go with the directory below.
    await releaseRuntime(dirs.dir, { force: options.force ?? false });
  } catch (err) {
    if (err instanceof CairnError && err.code === 'conflict') {
      throw new CairnError('conflict', `container ${record.name} is running: stop it first, or use rm -f`, { id: record.id });
    }
    throw err;
  }
  await unmountRootfs(store, record);
  // Not rmSync, though each thread-pool round trip costs more CPU than its syscall: rmdir on this
  // VM's ext4 waits (a dozen entries: ~16 ms in one thread, ~8 ms spread over the pool's four).
  await rm(dirs.dir, { recursive: true, force: true });
}

/**
 * Runs a process in a running container (`exec`); returns its exit status.
 * @throws CairnError 'conflict' ("container NAME is not running") when it is created or exited.
 */
export async function execInContainer(store: Store, record: ContainerRecord, options: ExecRunOptions): Promise<number> {
  return named(record, () => exec(containerDirs(store, record.id).dir, options));
}

export function containerLogs(store: Store, record: ContainerRecord, options: { follow?: boolean; tail?: number; since?: Date } = {}): AsyncIterable<LogLine> {
  return followLogs(containerDirs(store, record.id).dir, options);
}

export { findContainer };
