/**
 * @module sys/atomic
 * Whole files that readers never see half-done: write a temp file beside the target
 * (`.<name>.<hex>.tmp`, a name gc recognises as a killed writer's leftover), fsync it, then rename
 * it over the target — or, to create a file only when it is absent, hard-link it into place,
 * which fails instead of replacing what another writer put there — and fsync the directory.
 */
import { link, open, rename, rm } from 'node:fs/promises';
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
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
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
    if (written !== undefined) await rm(written, { force: true });
    throw err;
  }
  try {
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(path.dirname(target));
}

/**
 * Creates `target` whole if it does not exist. Returns false, leaving the existing file alone,
 * when it does (another writer may have created it a moment ago).
 */
export async function createFileAtomic(target: string, data: string | Uint8Array, mode = 0o644): Promise<boolean> {
  const temp = await writeTemp(target, data, mode);
  try {
    await link(temp, target);
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
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
  const handle = await open(target, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
