/**
 * @module sys/pty
 * A pseudo-terminal pair (`posix_openpt` + `grantpt` + `unlockpt` + `ptsname_r` from libc,
 * through koffi): what a detached supervisor gives `runc` as its own terminal for a container
 * run with `-dt` (runc makes the container's pty itself, but wants a terminal among its own
 * stdio to run it from). Node has no pty call of its own. Loaded on first use, like sys/libc.
 */
import { constants, open } from 'node:fs';
import { promisify } from 'node:util';
import { libc, lastErrno, sysError } from './libc.js';

type NativeFn = (...args: unknown[]) => number;

interface PtyCalls {
  posix_openpt: NativeFn;
  grantpt: NativeFn;
  unlockpt: NativeFn;
  ptsname_r: NativeFn;
  close: NativeFn;
}

let cached: PtyCalls | undefined;

function calls(): PtyCalls {
  if (cached) return cached;
  const { koffi } = libc();
  const lib = koffi.load('libc.so.6');
  cached = {
    posix_openpt: lib.func('int posix_openpt(int flags)') as NativeFn,
    grantpt: lib.func('int grantpt(int fd)') as NativeFn,
    unlockpt: lib.func('int unlockpt(int fd)') as NativeFn,
    ptsname_r: lib.func('int ptsname_r(int fd, _Out_ uint8_t *buf, size_t len)') as NativeFn,
    close: lib.func('int close(int fd)') as NativeFn,
  };
  return cached;
}

export interface Pty {
  /** The master side's descriptor: owned by the caller, who closes it (`fs.close`, or a tty stream). */
  readonly master: number;
  /** The slave side, opened read-write without becoming our controlling terminal. */
  readonly slave: number;
  /** The slave's path (`/dev/pts/N`). */
  readonly path: string;
}

/** Opens a new pseudo-terminal pair. */
export async function openPty(): Promise<Pty> {
  const c = calls();
  const master = c.posix_openpt(constants.O_RDWR | constants.O_NOCTTY);
  if (master < 0) throw sysError('posix_openpt', lastErrno());
  try {
    if (c.grantpt(master) !== 0) throw sysError('grantpt', lastErrno());
    if (c.unlockpt(master) !== 0) throw sysError('unlockpt', lastErrno());
    const buf = Buffer.alloc(128);
    const rc = c.ptsname_r(master, buf, buf.length);
    if (rc !== 0) throw sysError('ptsname_r', rc);
    const path = buf.subarray(0, buf.indexOf(0)).toString('utf8');
    // A raw descriptor, not a FileHandle: it goes to a child's stdio and is closed by the caller.
    const slave = await promisify(open)(path, constants.O_RDWR | constants.O_NOCTTY);
    return { master, slave, path };
  } catch (err) {
    c.close(master);
    throw err;
  }
}
