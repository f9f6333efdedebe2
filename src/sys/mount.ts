/**
 * @module sys/mount
 * Kernel overlay mounts for unpacked layers and container root filesystems (design §6), through
 * mount(2)/umount2(2) in cairn's addon (sys/native). Spawning util-linux `mount`/`umount` cost a
 * fork of this process and an exec per call (~10 ms of CPU for a mount and its unmount). Lower
 * directories are passed relative to `cwd` when given: overlayfs resolves them against the
 * mounting thread's working directory, which keeps the option string short — it must fit in one
 * page (4096 bytes), and 64-hex chainIDs fit about 60 layers that way.
 *
 * The small files read here (/proc/self/mountinfo, /proc/filesystems) are read synchronously:
 * a promise-based read is four thread-pool round trips (open, fstat, read, close), each costing
 * more CPU than the read itself, on every container start.
 */
import { readFileSync, rmSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { CairnError } from '../errors.js';
import { errnoText, native } from './native.js';

export interface OverlayMountOptions {
  /** Lower directories, top first (relative to `cwd` when it is given). */
  readonly lower: readonly string[];
  /** Absent for a read-only mount of the lowers. */
  readonly upper?: string;
  readonly work?: string;
  readonly target: string;
  /** The directory relative lower paths are resolved against. */
  readonly cwd?: string;
  /**
   * Mount with overlayfs's `volatile`: no syncs of the upper filesystem, on any fsync or at the
   * unmount (which otherwise syncs the whole filesystem the upper is on). For uppers nobody
   * keeps after a crash (podman mounts `--rm` containers so).
   */
  readonly volatile?: boolean;
}

/** umount2's flag for a lazy unmount (linux/fs.h). */
const MNT_DETACH = 2;

/** The most the kernel takes for mount options (one page). */
export const MAX_MOUNT_DATA = 4095;

/** The `-o` string for an overlay mount; throws when it would not fit in a page. */
export function overlayOptions(options: OverlayMountOptions): string {
  if (options.lower.length === 0) throw new CairnError('invalid-argument', `overlay mount at ${options.target}: needs at least one lower directory`);
  for (const dir of [...options.lower, options.upper ?? '', options.work ?? '']) {
    if (/[,:\\]/.test(dir)) throw new CairnError('unsupported', `overlay mount: the path "${dir}" contains a character overlayfs cannot take (, : \\)`, { path: dir });
  }
  const parts = [`lowerdir=${options.lower.join(':')}`];
  if (options.upper !== undefined) parts.push(`upperdir=${options.upper}`, `workdir=${options.work ?? ''}`);
  if (options.volatile) parts.push('volatile');
  const data = parts.join(',');
  if (data.length > MAX_MOUNT_DATA) {
    throw new CairnError('unsupported', `overlay mount at ${options.target}: ${options.lower.length} layers do not fit in one mount (options are ${data.length} bytes, the kernel takes ${MAX_MOUNT_DATA})`, {
      layers: options.lower.length,
    });
  }
  return data;
}

/**
 * Mounts an overlay. A `volatile` one first clears the mark an earlier volatile mount of the same
 * upper left (see `clearVolatileMark`), and falls back to a plain mount on a kernel that does not
 * know the option (before Linux 5.10): it only saves syncs.
 */
export async function mountOverlay(options: OverlayMountOptions): Promise<void> {
  if (options.volatile && options.work !== undefined) clearVolatileMark(path.resolve(options.cwd ?? '/', options.work));
  let result = await mountOnce(options);
  if (result === -constants.errno.EINVAL && options.volatile) result = await mountOnce({ ...options, volatile: false });
  if (result < 0) {
    const more = result === -constants.errno.EINVAL ? ' (the kernel log, dmesg, may say why)' : '';
    throw new CairnError('process-failed', `overlay mount at ${options.target} failed: ${errnoText(-result)}${more}`, { target: options.target });
  }
}

/** One mount(2): 0 or -errno. Relative paths resolve against `cwd` (default `/`). */
function mountOnce(options: OverlayMountOptions): Promise<number> {
  const data = overlayOptions(options);
  const cwd = options.cwd ?? '/';
  const relative = [...options.lower, options.upper, options.work].some((p) => p !== undefined && !path.isAbsolute(p));
  // Only relative paths need the mount to run in `cwd` (a thread of its own in the addon).
  return native().mount('overlay', path.resolve(cwd, options.target), 'overlay', 0, data, relative ? cwd : null);
}

/**
 * A `volatile` overlay mount leaves `WORK/work/incompat/volatile` behind, and the kernel refuses
 * to mount that upper again, volatile or not, while it is there (its data may not have reached
 * the disk if the machine crashed meanwhile). containers/storage removes it before every mount;
 * cairn mounts volatile only the uppers of `--rm` containers, whose changes are thrown away
 * anyway, and removes it before mounting those again (`create --rm`, `cp`, then `start`).
 */
function clearVolatileMark(work: string): void {
  rmSync(path.join(work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
}

/** Unmounts `target`; `lazy` detaches it even while busy (MNT_DETACH). Not mounted is success. */
export async function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  const result = await native().umount2(path.resolve(target), options.lazy ? MNT_DETACH : 0);
  // EINVAL: not a mount point; ENOENT: not even there. Either way nothing is mounted.
  if (result === 0 || result === -constants.errno.EINVAL || result === -constants.errno.ENOENT) return;
  // mountinfo names the real path (umount2 followed any symlink on the way).
  if (await isMountpoint(await realpath(target).catch(() => target))) {
    throw new CairnError('process-failed', `unmounting ${target} failed: ${errnoText(-result)}`, { target });
  }
}

/** Mount points under (or at) `prefix`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const root = path.resolve(prefix);
  const info = readFileSync('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function isMountpoint(target: string): Promise<boolean> {
  const root = path.resolve(target);
  return (await mountsUnder(root)).includes(root);
}

/** True when this process may mount overlays: root, and the kernel knows overlayfs. */
export async function overlayAvailable(): Promise<boolean> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  try {
    return /\toverlay\n/.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}
