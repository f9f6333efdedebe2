/**
 * @module sys/libc
 * The one native boundary (design §10): the few libc calls Node's `fs` lacks, reached through
 * koffi. Everything that needs a syscall goes through here so the rest of cairn stays portable
 * and testable. koffi is loaded on first use: commands that never lock or mknod never pay for it.
 */
import { createRequire } from 'node:module';
import { CairnError } from '../errors.js';

type KoffiModule = typeof import('koffi');
type NativeFn = (...args: unknown[]) => number;

interface Libc {
  koffi: KoffiModule;
  flock: NativeFn;
}

let cached: Libc | undefined;

function libc(): Libc {
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
  };
  return cached;
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
