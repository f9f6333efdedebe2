/**
 * @module sys/xattr
 * Extended attributes without following symlinks (`l*xattr`), plus `fsetxattr` on an open file.
 * Node's `fs` has none of them (design §10). Values are raw bytes; names are UTF-8.
 *
 * Errors are Node-style (`code` `ENODATA`, `ENOTSUP`, `EPERM`...): `getXattr` returns undefined
 * for a missing attribute instead of throwing, everything else throws.
 */
import { lastErrno, libc, sysError } from './libc.js';

const ENODATA = 61;
const ERANGE = 34;
const EINTR = 4;
/** XATTR_SIZE_MAX on Linux: no value is larger. */
const MAX_VALUE = 64 * 1024;

function call(fn: () => number | bigint, syscall: string, path?: string): number {
  for (;;) {
    const r = Number(fn());
    if (r >= 0) return r;
    const errno = lastErrno();
    if (errno !== EINTR) throw sysError(syscall, errno, path);
  }
}

/** Sets `name` on `path` itself (a symlink is not followed). */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  const { lsetxattr } = libc();
  call(() => lsetxattr(path, name, value, value.length, 0), 'lsetxattr', path);
}

/** Sets `name` on an open file descriptor. */
export function fsetXattr(fd: number, name: string, value: Uint8Array, path?: string): void {
  const { fsetxattr } = libc();
  call(() => fsetxattr(fd, name, value, value.length, 0), 'fsetxattr', path);
}

/** The value of `name` on `path` itself, or undefined when it has no such attribute. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const { lgetxattr } = libc();
  let size = 256;
  for (;;) {
    const buf = Buffer.alloc(size);
    const r = Number(lgetxattr(path, name, buf, size));
    if (r >= 0) return buf.subarray(0, r);
    const errno = lastErrno();
    if (errno === ENODATA) return undefined;
    if (errno === ERANGE && size < MAX_VALUE) {
      size = MAX_VALUE;
      continue;
    }
    if (errno !== EINTR) throw sysError('lgetxattr', errno, path);
  }
}

/** The attribute names on `path` itself, in the order the filesystem lists them. */
export function listXattrs(path: string): string[] {
  const { llistxattr } = libc();
  for (;;) {
    const size = call(() => llistxattr(path, null, 0), 'llistxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const r = Number(llistxattr(path, buf, size));
    if (r < 0) {
      const errno = lastErrno();
      if (errno === ERANGE || errno === EINTR) continue; // the list grew in between: ask again
      throw sysError('llistxattr', errno, path);
    }
    return buf
      .subarray(0, r)
      .toString('utf8')
      .split('\0')
      .filter((n) => n !== '');
  }
}

/** Every attribute of `path` itself with its value. */
export function readXattrs(path: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of listXattrs(path)) {
    const value = getXattr(path, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Removes `name` from `path` itself; a missing attribute is not an error. */
export function removeXattr(path: string, name: string): void {
  const { lremovexattr } = libc();
  for (;;) {
    if (lremovexattr(path, name) === 0) return;
    const errno = lastErrno();
    if (errno === ENODATA) return;
    if (errno !== EINTR) throw sysError('lremovexattr', errno, path);
  }
}
