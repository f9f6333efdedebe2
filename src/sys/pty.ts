/**
 * @module sys/pty
 * A pseudo-terminal pair (posix_openpt, grantpt, unlockpt, ptsname_r in the native addon): what
 * a detached supervisor gives `runc` as its own terminal for a container run with `-dt` (runc
 * makes the container's pty itself, but wants a terminal among its own stdio to run it from).
 * Node has no pty call of its own.
 */
import { close, constants, open } from 'node:fs';
import { promisify } from 'node:util';
import { native, sysError } from './native.js';

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
  const made = native().openpt(constants.O_RDWR | constants.O_NOCTTY);
  if (typeof made === 'number') throw sysError('posix_openpt', -made);
  try {
    // A raw descriptor, not a FileHandle: it goes to a child's stdio and is closed by the caller.
    const slave = await promisify(open)(made.path, constants.O_RDWR | constants.O_NOCTTY);
    return { master: made.master, slave, path: made.path };
  } catch (err) {
    await promisify(close)(made.master);
    throw err;
  }
}
