/**
 * @module container/rootfs
 * A container's root filesystem. Overlay mode (root with overlayfs): the image's unpacked layer
 * directories as lowerdirs, the container's `upper/` and `work/`, mounted at `rootfs/` while
 * something needs it (a running process, the file API). Copy mode (no overlay): the image
 * unpacked into `rootfs/` at create; changes are then found by a snapshot diff against the
 * image's layer indexes (kaniko-style: correct, O(files)).
 *
 * Between the image and the upper sits a small init layer of the container's own (docker's
 * `-init` layer): the mount points the runtime needs (/dev, /proc, /sys). Without it runc
 * creates them in the upper, and every image lacking them would show `A /proc` in `diff` and
 * carry empty directories into `commit`.
 */
import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { isOverlayWhiteout } from '../layer/whiteout.js';
import { splitDev } from '../sys/mknod.js';
import { isMountpoint, mountOverlay, unmount } from '../sys/mount.js';
import type { Store } from '../store/store.js';
import { containerDirs, type ContainerRecord } from './record.js';

/** Directories the runtime mounts over; they live in the init layer. */
const MOUNT_POINTS = ['dev', 'proc', 'sys'];

/** Mounts the overlay root filesystem if it is not mounted; returns its path. Copy mode: just the path. */
export async function mountRootfs(store: Store, record: ContainerRecord): Promise<string> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'copy') return dirs.rootfs;
  if (await isMountpoint(dirs.rootfs)) return dirs.rootfs;
  await Promise.all([mkdir(dirs.upper, { recursive: true }), mkdir(dirs.work, { recursive: true }), mkdir(dirs.rootfs, { recursive: true })]);
  const init = path.join(dirs.dir, 'init');
  await Promise.all(MOUNT_POINTS.map((dir) => mkdir(path.join(init, dir), { recursive: true, mode: 0o755 })));
  const lower = [init, ...[...record.layers].reverse()];
  try {
    await mountOverlay({ lower, upper: dirs.upper, work: dirs.work, target: dirs.rootfs, cwd: store.paths.layers });
  } catch (err) {
    throw new CairnError('process-failed', `container ${record.name}: cannot mount its root filesystem: ${(err as Error).message}`, { id: record.id }, { cause: err });
  }
  return dirs.rootfs;
}

export async function unmountRootfs(store: Store, record: ContainerRecord): Promise<void> {
  if (record.rootfs === 'copy') return;
  await unmount(containerDirs(store, record.id).rootfs, { lazy: true });
}

/** What lstat says about `file`: absent, a kernel whiteout (0:0 character device), or present. */
async function presence(file: string): Promise<'absent' | 'whiteout' | 'present'> {
  try {
    const st = await lstat(file);
    if (!st.isCharacterDevice()) return 'present';
    const { major, minor } = splitDev(st.rdev);
    return isOverlayWhiteout({ type: 'char', devmajor: major, devminor: minor }) ? 'whiteout' : 'present';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'absent';
    throw err;
  }
}

/**
 * The init layer's mount points that the container deleted (whiteouts in its upper) although
 * the image never had them: those whiteouts hide only the init layer, so a commit leaves them
 * out. Checked on the upper and the image's layer directories, top first (a few lstat calls,
 * whatever the image's size).
 */
export async function initOnlyWhiteouts(store: Store, record: ContainerRecord): Promise<Set<string>> {
  const upper = containerDirs(store, record.id).upper;
  const found = new Set<string>();
  await Promise.all(
    MOUNT_POINTS.map(async (name) => {
      if ((await presence(path.join(upper, name))) !== 'whiteout') return;
      for (const layer of [...record.layers].reverse()) {
        const there = await presence(path.join(store.paths.layers, layer, name));
        if (there === 'present') return; // the image has it: the whiteout deletes it
        if (there === 'whiteout') break;
      }
      found.add(name);
    }),
  );
  return found;
}
