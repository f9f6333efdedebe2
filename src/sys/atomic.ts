/**
 * @module sys/atomic
 * Whole files that readers never see half-done: write a temp file beside the target
 * (`.<name>.<hex>.tmp`, a name gc recognises as a killed writer's leftover), fsync it, then rename
 * it over the target — or, to create a file only when it is absent, hard-link it into place,
 * which fails instead of replacing what another writer put there — and fsync the directory.
 *
 * Only the fsyncs wait in the thread pool. The open, write (up to `SYNC_WRITE_MAX`), rename and
 * close around them are synchronous calls of a few microseconds each on a local disk, where a
 * promise-based `fs` call costs ~0.1 ms of CPU (a FileHandle, a promise, a hop to a pool thread
 * and back); a small commit or tag makes dozens of them. The one close that can take long — of
 * the file a rename replaced, which frees its blocks — runs in the thread pool, unawaited.
 */
import { close, closeSync, fsync, linkSync, openSync, renameSync, rmSync, write, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

let made = 0;

/**
 * A hex suffix no other temp name of this host will have: this process's pid, a counter, and the
 * time (for a pid reused after a crash). Not random bytes: node:crypto costs a read-only command
 * several milliseconds to load, and uniqueness is all a temp name needs.
 */
export function uniqueHex(): string {
  made += 1;
  return `${process.pid.toString(16).padStart(8, '0')}${made.toString(16).padStart(8, '0')}${Date.now().toString(16).padStart(12, '0')}`;
}

/** Data up to this size is written with synchronous writes; more goes through the thread pool. */
const SYNC_WRITE_MAX = 1 << 20;

/**
 * Creates `file` (it must not exist) holding `data` and returns its open descriptor: written, not
 * yet fsynced. A failed write closes and removes the file it created.
 */
export async function createWithData(file: string, data: string | Uint8Array, mode: number): Promise<number> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const fd = openSync(file, 'wx', mode);
  try {
    if (bytes.length <= SYNC_WRITE_MAX) {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    } else {
      for (let done = 0; done < bytes.length; ) done += await writeAsync(fd, bytes, done);
    }
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw err;
  }
  return fd;
}

function writeAsync(fd: number, bytes: Uint8Array, offset: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, bytes, offset, bytes.length - offset, null, (err, n) => (err ? reject(err) : resolve(n))));
}

/** fsync of an open descriptor, in the thread pool (it waits for the disk). */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * A temp name for a new version of `target`: beside it, so that the rename stays on one
 * filesystem, and named `.<name>.<hex>.tmp` so that gc knows a killed writer's leftover.
 */
export function tempBeside(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${uniqueHex()}.tmp`);
}

/**
 * Replaces `target` with what `write` puts into a temp file beside it: the rename happens only
 * when `write` succeeds, and the temp file is removed when anything fails. Durability (fsync of
 * the file and the directory) is the caller's choice.
 */
export async function replaceVia(target: string, write: (temp: string) => Promise<unknown>): Promise<void> {
  const temp = tempBeside(target);
  try {
    await write(temp);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

async function writeTemp(target: string, data: string | Uint8Array, mode: number, durable = true): Promise<string> {
  const temp = tempBeside(target);
  const fd = await createWithData(temp, data, mode);
  try {
    if (durable) await fsyncFd(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  return temp;
}

export interface AtomicWriteOptions {
  /**
   * The rename waits for this as well: what the new content refers to must be in place first
   * (index.json naming blobs still being committed). The temp file is written and fsynced
   * meanwhile, so the two fsyncs overlap.
   */
  readonly renameAfter?: Promise<unknown>;
  /**
   * fsync the file and the directory (default true). Without, readers still never see a torn
   * file, but after a machine crash the target may hold the old content or none: for files
   * nothing needs after a crash.
   */
  readonly durable?: boolean;
}

/** Replaces `target` whole. */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o644, options: AtomicWriteOptions = {}): Promise<void> {
  const durable = options.durable ?? true;
  const writing = writeTemp(target, data, mode, durable);
  let temp: string;
  try {
    [temp] = await Promise.all([writing, options.renameAfter]);
  } catch (err) {
    const written = await writing.catch(() => undefined);
    if (written !== undefined) rmSync(written, { force: true });
    throw err;
  }
  const replaced = openIfPresent(target);
  try {
    renameSync(temp, target);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  } finally {
    if (replaced !== undefined) closeInBackground(replaced);
  }
  if (durable) await fsyncDir(path.dirname(target));
}

/**
 * A read-only descriptor of the file a rename is about to replace, or undefined. Held across the
 * rename, it moves the freeing of the old file's blocks from the rename to its close
 * (`closeInBackground`): on an ext4 mounted with `discard` and no journal, as on this project's
 * VMs, freeing blocks waits for the disk's discard, 1–4 ms measured for a small file.
 */
function openIfPresent(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch {
    // Nothing to hold (ENOENT), or it cannot be held: the rename frees it, which is only slower.
    return undefined;
  }
}

/**
 * Closes `fd` in the thread pool without waiting: the last close of a replaced file frees its
 * blocks, and nothing waits for that (the process does, before it exits). A close error on a
 * read-only descriptor loses nothing.
 */
function closeInBackground(fd: number): void {
  close(fd, () => {});
}

/**
 * Creates `target` whole if it does not exist. Returns false, leaving the existing file alone,
 * when it does (another writer may have created it a moment ago).
 */
export async function createFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): Promise<boolean> {
  const temp = await writeTemp(target, data, mode);
  try {
    linkSync(temp, target);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
  await fsyncDir(path.dirname(target));
  return true;
}

/** Makes a rename or create in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/** fsync of a file or directory by path (Linux allows it on a read-only descriptor). */
export async function fsyncPath(target: string): Promise<void> {
  const fd = openSync(target, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
