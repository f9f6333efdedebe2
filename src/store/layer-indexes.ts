/**
 * @module store/layer-indexes
 * Where encoded layer indexes (design §3; the encoding is `src/layer/layer-index.ts`) are kept:
 * one file per diffID, `cairn/indexes/<algorithm>/<hex>`, beside the other derived data keyed
 * by layer identity (seekable caches, unpacked layer directories). The store treats them as
 * opaque bytes; `src/layer/index-store.ts` decodes, builds and saves them.
 *
 * Files rather than the meta database (design §1 first put them there): reading an index is
 * what `cairn diff IMAGE1 IMAGE2`, `ls` and `cat` do first, and LevelDB costs ~35 ms to load and
 * ~25 ms to open, admits one process at a time, and has to be held under the store lock, where
 * a file is one read, readable by any number of processes at once. Writes are atomic (temp,
 * fsync, rename), so a reader sees a whole index or none; two processes that index the same
 * layer write the same bytes. Everything here can be made again from the blobs: gc sweeps
 * indexes no reachable image names, and `fsck --rebuild` clears and rewrites them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { digestAlgorithm, digestHex, isDigest, type Digest } from '../digest/digest.js';
import { CairnError, errnoCode } from '../errors.js';
import { writeFileAtomic } from '../sys/atomic.js';

export class LayerIndexFiles {
  readonly dir: string;

  /** `dir`: the store's `cairn/indexes`. */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file of the index of `diffId`. */
  path(diffId: Digest): string {
    if (!isDigest(diffId)) throw new CairnError('invalid-argument', `not a diffID: ${String(diffId)}`, { digest: String(diffId) });
    return path.join(this.dir, digestAlgorithm(diffId), digestHex(diffId));
  }

  /**
   * The stored index of `diffId`, or undefined. Read synchronously: an index is one file of a
   * few hundred KB that the caller needs before it can do anything else, and a thread-pool
   * round trip per step (open, stat, read, close) costs more than the read.
   */
  get(diffId: Digest): Uint8Array | undefined {
    try {
      return readFileSync(this.path(diffId));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  /** Saves the index of `diffId` (atomically: readers see the old file, or none, until the rename). */
  async put(diffId: Digest, bytes: Uint8Array): Promise<void> {
    const file = this.path(diffId);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, bytes);
  }

  async delete(diffId: Digest): Promise<void> {
    await rm(this.path(diffId), { force: true });
  }

  /** The diffIDs that have a stored index (temp files of killed writers left out). */
  list(): Digest[] {
    const out: Digest[] = [];
    for (const algorithm of listDir(this.dir)) {
      for (const hex of listDir(path.join(this.dir, algorithm))) {
        const digest = `${algorithm}:${hex}`;
        if (isDigest(digest)) out.push(digest);
      }
    }
    return out;
  }

  /** Removes every stored index (and leftovers of killed writers). */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}
