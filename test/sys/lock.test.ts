// FileLock and flock through cairn's addon: exclusion between descriptors of one process and
// between processes, release when the holder is SIGKILLed, and the errors for a bad descriptor.
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { FileLock, LOCK_EX, LOCK_SH, tryFlock } from '../../src/sys/lock.js';
import { killChildren, removeDir, requireDist, runScript, tempDir, type Child } from '../support/images.js';

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await tempDir('cairn-lock-');
  file = path.join(dir, 'lock');
});

afterEach(async () => {
  await killChildren();
  await removeDir(dir);
});

function timedOut(err: unknown): boolean {
  return isCairnError(err, 'lock-timeout') && err.data.path === file;
}

describe('tryFlock', () => {
  it('lets shared holders share and keeps an exclusive one out, per open file description', () => {
    const a = openSync(file, 'a');
    const b = openSync(file, 'a');
    try {
      expect(tryFlock(a, LOCK_SH)).toBe(true);
      expect(tryFlock(b, LOCK_SH)).toBe(true);
      expect(tryFlock(b, LOCK_EX)).toBe(false);
      closeSync(a);
      expect(tryFlock(b, LOCK_EX)).toBe(true);
    } finally {
      closeSync(b);
    }
  });

  it('throws EBADF naming the lock file for a descriptor that is not open', () => {
    const fd = openSync(file, 'a');
    closeSync(fd);
    let err: NodeJS.ErrnoException | undefined;
    try {
      tryFlock(fd, LOCK_EX, file);
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toMatchObject({ code: 'EBADF', syscall: 'flock', path: file, errno: -9 });
    expect(err?.message).toBe(`EBADF: flock failed on ${file}`);
  });
});

/** Another process holding the lock on `file` until the test SIGKILLs it. */
async function holderProcess(mode: 'exclusive' | 'shared'): Promise<Child> {
  requireDist();
  const holder = runScript('child-lock.mjs', [file, mode]);
  await holder.waitForLine((line) => line === 'locked');
  return holder;
}

/** Takes the lock as `mode` within `timeoutMs`: 'taken', or the error. */
function attempt(lock: FileLock, mode: 'exclusive' | 'shared', timeoutMs: number): Promise<unknown> {
  return lock[mode](async () => 'taken', { timeoutMs }).catch((e: unknown) => e);
}

describe('FileLock', () => {
  it('excludes another holder in the same process until the first settles', async () => {
    const lock = new FileLock(file);
    expect(timedOut(await lock.exclusive(() => attempt(lock, 'exclusive', 50)))).toBe(true);
    expect(await attempt(lock, 'exclusive', 50)).toBe('taken');
  });

  it('is released by the kernel when the holding process is SIGKILLed', async () => {
    const holder = await holderProcess('exclusive');
    const lock = new FileLock(file);
    expect(timedOut(await attempt(lock, 'shared', 50))).toBe(true);
    holder.process.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    expect(await attempt(lock, 'exclusive', 5000)).toBe('taken');
  });

  it('lets shared holders in other processes in and keeps an exclusive one out', async () => {
    await holderProcess('shared');
    const lock = new FileLock(file);
    expect(await attempt(lock, 'shared', 5000)).toBe('taken');
    expect(timedOut(await attempt(lock, 'exclusive', 50))).toBe(true);
  });
});
