/**
 * @module store/store
 * The store: an OCI image layout plus cairn's own `cairn/` directory (design §1).
 *
 * Contracts:
 * - `index.json` is replaced whole (temp, fsync, rename) while holding the store lock, so
 *   concurrent taggers in several processes lose nothing.
 * - Operations that write blobs which are not yet reachable from `index.json` run inside
 *   `ingest()` (a shared lock); `gc` takes that lock exclusively, so it never sweeps blobs an
 *   unfinished operation wrote.
 * - Opening never writes: a read-only store opens as it is; directories are created on the
 *   first write.
 */
import { mkdirSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CairnError, errnoCode } from '../errors.js';
import type { AtomicWriteOptions } from '../sys/atomic.js';
import { FileLock, type LockOptions } from '../sys/lock.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import type { BlobStore } from './blobs.js';
import { OciLayout } from './layout.js';
import { LayerIndexFiles } from './layer-indexes.js';
import { withMetaDb, type Meta } from './meta.js';
import { defaultStorePath, storePaths, type StorePaths } from './paths.js';
import { parseReference, tagged, type Reference } from './reference.js';
import { refNameOf, tagRecords, withTag, withoutTag, type TagRecord } from './tags.js';

export interface StoreOptions {
  /** Wait at most this long for the store lock (default 10 minutes). */
  lockTimeoutMs?: number;
}

export class Store {
  readonly paths: StorePaths;
  readonly layout: OciLayout;
  /** Encoded layer indexes by diffID (files: read without the meta database or a lock). */
  readonly layerIndexes: LayerIndexFiles;
  readonly #lock: FileLock;
  readonly #gcLock: FileLock;
  readonly #lockOptions: LockOptions;
  #prepared = false;

  private constructor(root: string, options: StoreOptions) {
    this.paths = storePaths(root);
    this.layout = new OciLayout(this.paths.root, this.paths.tmp);
    this.layerIndexes = new LayerIndexFiles(this.paths.indexes);
    this.#lock = new FileLock(this.paths.lock);
    this.#gcLock = new FileLock(this.paths.gcLock);
    this.#lockOptions = options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs };
  }

  /**
   * Opens the store at `root` (default: `defaultStorePath()`). A missing directory is fine: it
   * becomes a store on the first write. An existing `oci-layout` must say version 1.0.0.
   */
  static async open(root: string = defaultStorePath(), options: StoreOptions = {}): Promise<Store> {
    const store = new Store(root, options);
    const isLayout = await store.layout.exists();
    if (!isLayout) {
      try {
        if (!(await stat(store.paths.root)).isDirectory()) {
          throw new CairnError('invalid-argument', `store ${store.paths.root} is not a directory`, { path: store.paths.root });
        }
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
    return store;
  }

  get root(): string {
    return this.paths.root;
  }

  get blobs(): BlobStore {
    return this.layout.blobs;
  }

  /** Creates the layout files and cairn's directories, once per process. */
  async prepare(): Promise<void> {
    if (this.#prepared) return;
    // Synchronous: after the first write these exist, and each check is a syscall of a few
    // microseconds where a promise-based one costs a thread-pool round trip (see sys/atomic).
    mkdirSync(this.paths.tmp, { recursive: true });
    await this.layout.ensure();
    this.#prepared = true;
  }

  /** Runs `fn` holding the store lock alone (index.json and meta writers). */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    await this.prepare();
    return this.#lock.exclusive(fn, this.#lockOptions);
  }

  /** Runs `fn` while gc is held off: wrap every operation that writes blobs before tagging them. */
  async ingest<T>(fn: () => Promise<T>): Promise<T> {
    await this.prepare();
    return this.#gcLock.shared(fn, this.#lockOptions);
  }

  /** Runs `fn` with no ingest in flight (gc's sweep). */
  async exclusiveOfIngest<T>(fn: () => Promise<T>): Promise<T> {
    await this.prepare();
    return this.#gcLock.exclusive(fn, this.#lockOptions);
  }

  /** Opens the metadata database for the span of `fn`, under the store lock. */
  async withMeta<T>(fn: (meta: Meta) => Promise<T>): Promise<T> {
    return this.withLock(() => withMetaDb(this.paths.meta, fn));
  }

  /** Whether the metadata database exists: a reader can skip opening it (which would create it) when not. */
  async hasMeta(): Promise<boolean> {
    // statSync: a command that reads nothing else through node:fs/promises does not load it for this (~3 ms).
    return statSync(this.paths.meta, { throwIfNoEntry: false }) !== undefined;
  }

  readIndex(): Promise<ImageIndex> {
    return this.layout.readIndex();
  }

  /**
   * Reads, changes and atomically replaces index.json under the store lock. With `renameAfter`
   * (blobs the new entries name, still being committed), the new index.json is written and
   * fsynced meanwhile and renamed into place only once that has resolved; if it rejects, the
   * index is left as it was.
   */
  async updateIndex(mutate: (manifests: readonly Descriptor[]) => Descriptor[], options: AtomicWriteOptions = {}): Promise<void> {
    // Handled from now on: it may reject while we wait for the lock.
    options.renameAfter?.catch(() => undefined);
    await this.withLock(async () => {
      const index = await this.layout.readIndex();
      await this.layout.writeIndex({ ...index, manifests: mutate(index.manifests) }, options);
    });
  }

  async listTags(): Promise<TagRecord[]> {
    return tagRecords((await this.readIndex()).manifests);
  }

  /** The descriptor tagged `ref` (`name[:tag]`), or undefined. */
  async getTag(ref: string | Reference): Promise<Descriptor | undefined> {
    const key = tagKey(ref);
    return (await this.readIndex()).manifests.find((d) => refNameOf(d) === key);
  }

  /**
   * Points tag `ref` at `descriptor`; with `ref` undefined, keeps the image untagged.
   * `renameAfter`: as for `updateIndex`.
   */
  async setTag(ref: string | Reference | undefined, descriptor: Descriptor, options: AtomicWriteOptions = {}): Promise<void> {
    const key = ref === undefined ? undefined : tagKey(ref);
    await this.updateIndex((manifests) => withTag(manifests, key, descriptor), options);
  }

  /**
   * Removes tag `ref`; returns what it pointed at, or undefined when there was no such tag. With
   * `keepImage`, an image left without a tag stays as an untagged entry (docker's dangling
   * `<none>` image, as when something still uses it).
   */
  async removeTag(ref: string | Reference, options: { keepImage?: boolean } = {}): Promise<Descriptor | undefined> {
    const key = tagKey(ref);
    let removed: Descriptor | undefined;
    await this.updateIndex((manifests) => {
      removed = manifests.find((d) => refNameOf(d) === key);
      const rest = withoutTag(manifests, key);
      return options.keepImage && removed ? withTag(rest, undefined, removed) : rest;
    });
    return removed;
  }

  /** Removes every index.json entry (tagged or not) for `digest`; returns how many. */
  async removeDigest(digest: string): Promise<number> {
    let count = 0;
    await this.updateIndex((manifests) => {
      const next = manifests.filter((d) => d.digest !== digest);
      count = manifests.length - next.length;
      return next;
    });
    return count;
  }
}

function tagKey(ref: string | Reference): string {
  return tagged(typeof ref === 'string' ? parseReference(ref) : ref);
}
