/**
 * @module sys/mknod
 * Device nodes and fifos (Node's `fs` has no mknod, design §10). Creating character or block
 * devices needs CAP_MKNOD; fifos do not. The node is created with exactly `mode`'s permission
 * bits only under umask 0, so callers chmod afterwards when the mode matters.
 */
import { lastErrno, libc, sysError } from './libc.js';

export type NodeType = 'char' | 'block' | 'fifo';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const EINTR = 4;

/**
 * glibc's `makedev`: major bits 0-11 at 8-19 and 12-31 at 32-51, minor bits 0-7 at 0-7 and
 * 8-31 at 20-43.
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The inverse of `makedev`, for `stat.rdev`. */
export function splitDev(rdev: number | bigint): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
  return { major, minor };
}

/**
 * Creates a device node or fifo at `path` (which must not exist).
 *
 * @example
 * mknod('/tmp/root/dev/null', 'char', 0o666, 1, 3);
 * mknod('/tmp/upper/etc/.gone', 'char', 0, 0, 0); // an overlayfs whiteout
 */
export function mknod(path: string, type: NodeType, mode: number, major = 0, minor = 0): void {
  const kind = type === 'char' ? S_IFCHR : type === 'block' ? S_IFBLK : S_IFIFO;
  const dev = type === 'fifo' ? 0n : makedev(major, minor);
  const fn = libc().mknod;
  for (;;) {
    if (fn(path, kind | (mode & 0o7777), dev) === 0) return;
    const errno = lastErrno();
    if (errno !== EINTR) throw sysError('mknod', errno, path);
  }
}
