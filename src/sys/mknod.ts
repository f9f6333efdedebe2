/**
 * @module sys/mknod
 * Device nodes and fifos (Node's `fs` has no mknod, design §10). Creating character or block
 * devices needs CAP_MKNOD; fifos do not. The node is created with exactly `mode`'s permission
 * bits only under umask 0, so callers chmod afterwards when the mode matters.
 */
import { check, native } from './native.js';

export type NodeType = 'char' | 'block' | 'fifo';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/**
 * glibc's `major`/`minor` for `stat.rdev` (the inverse of the `makedev` the addon calls): major
 * bits 0-11 sit at 8-19 and 12-31 at 32-51, minor bits 0-7 at 0-7 and 8-31 at 20-43.
 */
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
  const [ma, mi] = type === 'fifo' ? [0, 0] : [major, minor];
  check(native().mknod(path, kind | (mode & 0o7777), ma, mi), 'mknod', path);
}
