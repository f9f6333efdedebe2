/**
 * @module sys/lock
 * A shared/exclusive lock on a file, held across processes and across async callers in one
 * process. Each acquisition opens its own descriptor: flock locks belong to the open file
 * description, so two acquisitions in one process exclude each other exactly as two processes
 * do, and the kernel drops a dead holder's lock (even after SIGKILL).
 */
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CairnError } from '../errors.js';
import { check, native } from './native.js';

// flock(2) operations.
export const LOCK_SH = 1;
export const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

/**
 * Non-blocking flock. Returns true when the lock was taken, false when another open file
 * description holds it. The kernel drops the lock when the process dies, even by SIGKILL, which
 * is why the store uses flock rather than a lock file that a crash would leave behind.
 */
export function tryFlock(fd: number, op: typeof LOCK_SH | typeof LOCK_EX, path?: string): boolean {
  const r = native().flock(fd, op | LOCK_NB);
  if (r === -constants.errno.EWOULDBLOCK) return false;
  check(r, 'flock', path);
  return true;
}

/** Releases early; its result is ignored because closing the descriptor releases the lock anyway. */
function unflock(fd: number): void {
  native().flock(fd, LOCK_UN);
}

export interface LockOptions {
  /** Give up after this many milliseconds (default: wait 10 minutes). */
  timeoutMs?: number;
}

export class FileLock {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** Runs `fn` holding the lock alone; released when `fn` settles, even on error. */
  exclusive<T>(fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    return this.#run(LOCK_EX, fn, options);
  }

  /** Runs `fn` holding the lock together with other shared holders, excluding exclusive ones. */
  shared<T>(fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    return this.#run(LOCK_SH, fn, options);
  }

  async #run<T>(op: typeof LOCK_EX | typeof LOCK_SH, fn: () => Promise<T>, options: LockOptions): Promise<T> {
    const fd = await this.#acquire(op, options.timeoutMs ?? 600_000);
    try {
      return await fn();
    } finally {
      unflock(fd);
      closeSync(fd);
    }
  }

  /**
   * Opens the lock file and takes the lock. The open and close are synchronous: a few
   * microseconds on the store's own disk, where a FileHandle costs a store operation ~0.1 ms of
   * CPU per lock (see sys/atomic).
   */
  async #acquire(op: typeof LOCK_EX | typeof LOCK_SH, timeoutMs: number): Promise<number> {
    const fd = openSync(this.#path, 'a');
    const deadline = Date.now() + timeoutMs;
    let wait = 1;
    try {
      while (!tryFlock(fd, op, this.#path)) {
        if (Date.now() > deadline) {
          throw new CairnError('lock-timeout', `timed out after ${timeoutMs} ms waiting for the lock ${this.#path}`, {
            path: this.#path,
          });
        }
        await sleep(wait);
        wait = Math.min(wait * 2, 25);
      }
      return fd;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
}
