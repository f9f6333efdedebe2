/**
 * @module sys/libc
 * The one native boundary (design §10): the few libc calls Node's `fs` lacks, reached through
 * koffi. Everything that needs a syscall goes through here so the rest of cairn stays portable
 * and testable. koffi is loaded on first use: commands that never lock or mknod never pay for it.
 *
 * Calls are synchronous (a koffi call costs a few µs plus the syscall). That is fine for what
 * goes through here: locks, device nodes and extended attributes are rare per layer, and the
 * syscalls are metadata operations on a local filesystem. Failures become Node-style errors
 * (`code` = `ENOENT`, `EPERM`..., `syscall`, `path`), so callers test them with `errnoCode`
 * exactly as they test `fs` errors.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { CairnError } from '../errors.js';

type KoffiModule = typeof import('koffi');
type NativeFn = (...args: unknown[]) => number;
type NativeSizeFn = (...args: unknown[]) => number | bigint;

export interface Libc {
  koffi: KoffiModule;
  flock: NativeFn;
  mknod: NativeFn;
  lsetxattr: NativeFn;
  fsetxattr: NativeFn;
  lgetxattr: NativeSizeFn;
  llistxattr: NativeSizeFn;
  lremovexattr: NativeFn;
}

let cached: Libc | undefined;

/** The bound libc functions (loaded once, on first use). Linux only. */
export function libc(): Libc {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new CairnError('unsupported', `native calls are implemented for Linux only (this is ${process.platform})`);
  }
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as KoffiModule;
  const lib = koffi.load('libc.so.6');
  cached = {
    koffi,
    flock: lib.func('int flock(int fd, int op)') as NativeFn,
    // glibc >= 2.33 exports mknod itself (older ones only __xmknod); dev_t is 64-bit on Linux.
    mknod: lib.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as NativeFn,
    lsetxattr: lib.func(
      'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
    ) as NativeFn,
    fsetxattr: lib.func('int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)') as NativeFn,
    lgetxattr: lib.func(
      'intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
    ) as NativeSizeFn,
    llistxattr: lib.func('intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)') as NativeSizeFn,
    lremovexattr: lib.func('int lremovexattr(const char *path, const char *name)') as NativeFn,
  };
  return cached;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));
// EOPNOTSUPP and ENOTSUP share a number on Linux; name it the way Node's fs errors do.
ERRNO_NAMES.set(constants.errno.ENOTSUP, 'ENOTSUP');

/** The errno left by the last failed native call. */
export function lastErrno(): number {
  return libc().koffi.errno();
}

/** A Node-style system error (`err.code === 'ENOENT'`...) for a failed native call. */
export function sysError(syscall: string, errno: number, path?: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} failed${path === undefined ? '' : ` on ${path}`}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
const EWOULDBLOCK = 11;
const EINTR = 4;

/**
 * Non-blocking flock. Returns true when the lock was taken, false when another open file
 * description holds it. The kernel drops the lock when the process dies, even by SIGKILL, which
 * is why the store uses flock rather than a lock file that a crash would leave behind.
 */
export function tryFlock(fd: number, op: typeof LOCK_SH | typeof LOCK_EX): boolean {
  const { flock, koffi } = libc();
  for (;;) {
    if (flock(fd, op | LOCK_NB) === 0) return true;
    const errno = koffi.errno();
    if (errno === EWOULDBLOCK) return false;
    if (errno !== EINTR) throw new CairnError('process-failed', `flock failed with errno ${errno}`, { errno });
  }
}

export function unflock(fd: number): void {
  libc().flock(fd, LOCK_UN);
}
