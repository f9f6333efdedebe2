// FileLock and flock through cairn's addon: exclusion between descriptors of one process and
// between processes, release when the holder is SIGKILLed, and the errors for a bad descriptor.
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { FileLock, LOCK_EX, LOCK_SH, tryFlock } from '../../src/sys/lock.js';
import { killChildren, removeDir, requireDist, runScript, tempDir } from '../support/images.js';

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

describe('FileLock', () => {
  it('excludes another holder in the same process until the first settles', async () => {
    const lock = new FileLock(file);
    const inner = await lock.exclusive(() => lock.exclusive(async () => 'no', { timeoutMs: 50 }).catch((e: unknown) => e));
    expect(timedOut(inner)).toBe(true);
    await expect(lock.exclusive(async () => 'free again', { timeoutMs: 50 })).resolves.toBe('free again');
  });

  it('is released by the kernel when the holding process is SIGKILLed', async () => {
    requireDist();
    const holder = runScript('child-lock.mjs', [file, 'exclusive']);
    await holder.waitForLine((line) => line === 'locked');
    const lock = new FileLock(file);
    expect(timedOut(await lock.shared(async () => 'no', { timeoutMs: 50 }).catch((e: unknown) => e))).toBe(true);
    holder.process.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    await expect(lock.exclusive(async () => 'taken', { timeoutMs: 5000 })).resolves.toBe('taken');
  });

  it('lets shared holders in other processes in and keeps an exclusive one out', async () => {
    requireDist();
    const holder = runScript('child-lock.mjs', [file, 'shared']);
    await holder.waitForLine((line) => line === 'locked');
    const lock = new FileLock(file);
    await expect(lock.shared(async () => 'shared', { timeoutMs: 5000 })).resolves.toBe('shared');
    expect(timedOut(await lock.exclusive(async () => 'no', { timeoutMs: 50 }).catch((e: unknown) => e))).toBe(true);
  });
});
