/**
 * @module container/rootfs
 * A container's root filesystem. Overlay mode (root with overlayfs): the image's unpacked layer
 * directories as lowerdirs, the container's `upper/` and `work/`, mounted at `rootfs/` while
 * something needs it (a running process, the file API). Copy mode (no overlay): the image
 * unpacked into `rootfs/` at create; changes are then found by a snapshot diff against the
 * image's layer indexes (kaniko-style: correct, O(files)).
 *
 * Between the image and the upper sits a small init layer (docker's `-init` layer): the mount
 * points the runtime needs (/dev, /proc, /sys). Without it runc creates them in the upper, and
 * every image lacking them would show `A /proc` in `diff` and carry empty directories into
 * `commit`. Three empty directories are the same for every container, and a lowerdir is never
 * written through the overlay, so the whole store shares one (`cairn/container-init`): a start
 * and a removal make and delete four directories fewer (~0.2 ms of disk work each here).
 *
 * The directories are made and looked up with synchronous calls: a handful of metadata syscalls
 * on local directories, each cheaper than a thread-pool round trip, on every container start.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { isMountpoint, mountOverlay, unmount } from '../sys/mount.js';
import { containerPaths, readRecordedState } from '../runtime/state.js';
import type { Store } from '../store/store.js';
import { containerDirs, type ContainerRecord } from './record.js';

/** Directories the runtime mounts over; they live in the init layer. */
const MOUNT_POINTS = ['dev', 'proc', 'sys'];

/**
 * `dir` as /proc/self/mountinfo names a mount on it: a store reached through a symlink (say a
 * worktree's `.cache` link) is mounted under its real path, and `isMountpoint` compares paths.
 */
function mountPath(dir: string): string {
  try {
    return realpathSync.native(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return dir;
    throw err;
  }
}

/** Mounts the overlay root filesystem if it is not mounted; returns its (real) path. Copy mode: just the path. */
export async function mountRootfs(store: Store, record: ContainerRecord): Promise<string> {
  return (await ensureMounted(store, record)).root;
}

/** `mountRootfs`, saying whether this call mounted it. */
async function ensureMounted(store: Store, record: ContainerRecord): Promise<{ root: string; mounted: boolean }> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'copy') return { root: dirs.rootfs, mounted: false };
  const init = store.paths.containerInit;
  // Making the directories is harmless when they exist or the rootfs is mounted already.
  for (const dir of [dirs.upper, dirs.work, dirs.rootfs]) mkdirSync(dir, { recursive: true });
  for (const dir of MOUNT_POINTS) mkdirSync(path.join(init, dir), { recursive: true, mode: 0o755 });
  const target = path.join(mountPath(dirs.dir), 'rootfs');
  if (await isMountpoint(target)) return { root: target, mounted: false };
  const lower = [init, ...[...record.layers].reverse()];
  try {
    // A `--rm` container's changes go when it exits: its upper need not survive a crash, so
    // nothing syncs it (podman mounts `--rm` containers volatile too). That spares the unmount a
    // sync of the whole filesystem the store is on, which took 40–450 ms here under load.
    await mountOverlay({ lower, upper: dirs.upper, work: dirs.work, target: dirs.rootfs, cwd: store.paths.layers, volatile: record.autoRemove });
  } catch (err) {
    throw new CairnError('process-failed', `container ${record.name}: cannot mount its root filesystem: ${(err as Error).message}`, { id: record.id }, { cause: err });
  }
  // The real path: runc refuses a rootfs reached through a symlink.
  return { root: target, mounted: true };
}

/**
 * Runs `fn` with the container's root filesystem mounted, and unmounts it after if this call
 * mounted it and the container has not started meanwhile: `cp` into or out of a created or
 * stopped container leaves no mount behind, as docker's does. (The file API's other calls keep
 * the mount until `start` or `rm`: an unmount syncs the filesystem the store is on, ~40–450 ms
 * here under load, once per call.)
 */
export async function withRootfs<T>(store: Store, record: ContainerRecord, fn: (root: string) => Promise<T>): Promise<T> {
  const { root, mounted } = await ensureMounted(store, record);
  try {
    return await fn(root);
  } finally {
    if (mounted && !(await hasStarted(store, record))) await unmountRootfs(store, record);
  }
}

/** Whether the runtime state says the container is running (state.json only: no runtime is asked). */
async function hasStarted(store: Store, record: ContainerRecord): Promise<boolean> {
  return (await readRecordedState(containerPaths(containerDirs(store, record.id).dir)))?.status === 'running';
}

export async function unmountRootfs(store: Store, record: ContainerRecord): Promise<void> {
  if (record.rootfs === 'copy') return;
  // umount2 resolves the path itself: a store reached through a symlink needs no realpath here.
  await unmount(containerDirs(store, record.id).rootfs, { lazy: true });
}
