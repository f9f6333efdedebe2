/**
 * @module build/prune
 * `docker builder prune` for cairn's build cache: drop cache records (each pins its step image
 * through `gcRoots`), then let the store's gc sweep what no longer has a root.
 *
 * - Default: only *dangling* records, those whose step image is neither an image the store
 *   lists (index.json) or a container uses, nor an ancestor of one (its layers and history a
 *   prefix of that image's: the steps a listed image was built through). What a failed build
 *   or a replaced tag left behind, and the builder stages of multi-stage builds, go; a rebuild
 *   of what is listed still hits the cache at every step.
 * - `all`: every record, the `RUN --mount=type=cache` directories and the rebuild memos.
 *
 * Records are deleted under the store lock with the index copy (build/cache) rewritten in the
 * same span, so a build never finds a record there that the database lost. gc then runs
 * exclusive of ingests: a build in flight keeps what it wrote.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { parseConfig, type ImageConfig } from '../oci/index.js';
import { containerRoots, gc, type GcResult } from '../store/gc.js';
import { walkGraph } from '../store/graph.js';
import type { Store } from '../store/store.js';
import { isRecord, removeCacheRecords, type CacheRecord } from './cache.js';
import { memoDir } from './memo.js';

export interface PruneBuildCacheOptions {
  /** Every record, cache mounts and memos too; default: only dangling records. */
  readonly all?: boolean;
}

export interface PruneBuildCacheResult {
  /** Keys of the cache records removed. */
  readonly removed: readonly string[];
  /** Bytes freed: blobs gc swept plus cache-mount directories removed. */
  readonly freedBytes: number;
  /** The store gc that followed. */
  readonly gc: GcResult;
}

/** What a record's config is compared on: its layer chain and its history. */
interface Lineage {
  readonly diffIds: readonly string[];
  readonly history: readonly string[];
}

function lineageOf(config: ImageConfig): Lineage {
  return { diffIds: config.rootfs.diff_ids, history: (config.history ?? []).map((h) => JSON.stringify(h)) };
}

const isPrefix = (a: readonly string[], b: readonly string[]): boolean => a.length <= b.length && a.every((v, i) => v === b[i]);

/** A test for "this record's image is, or was built on the way to, an image in use". */
async function inUseTest(store: Store): Promise<(record: CacheRecord) => Promise<boolean>> {
  const roots = [...(await store.readIndex()).manifests.map((d) => d.digest), ...(await containerRoots(store))];
  const { configs } = await walkGraph(store.blobs, roots);
  const used: Lineage[] = [];
  for (const digest of configs) used.push(lineageOf(parseConfig(await store.blobs.readBytes(digest), `config ${digest}`)));
  return async (record) => {
    if (configs.has(record.config)) return true;
    if (!(await store.blobs.has(record.config))) return false;
    const own = lineageOf(parseConfig(await store.blobs.readBytes(record.config), `config ${record.config}`));
    return used.some((u) => isPrefix(own.diffIds, u.diffIds) && isPrefix(own.history, u.history));
  };
}

/** Bytes under `dir` (files' sizes), 0 when it is missing. */
async function treeSize(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return 0;
    throw err;
  }
  let total = 0;
  for (const name of names) {
    const st = await stat(path.join(dir, name)).catch(() => undefined);
    if (st?.isDirectory()) total += await treeSize(path.join(dir, name));
    else total += st?.size ?? 0;
  }
  return total;
}

/**
 * Removes build cache records (see the module comment for which) and runs gc.
 *
 * @example
 * const { removed, freedBytes } = await pruneBuildCache(store, { all: true });
 */
export async function pruneBuildCache(store: Store, options: PruneBuildCacheOptions = {}): Promise<PruneBuildCacheResult> {
  const inUse = options.all ? undefined : await inUseTest(store);
  const removed = await store.withMeta(async (meta) => {
    const doomed: string[] = [];
    for await (const [key, value] of meta.buildCache.entries()) {
      if (!isRecord(value) || !inUse || !(await inUse(value))) doomed.push(key);
    }
    await removeCacheRecords(store.paths, meta, doomed);
    return doomed;
  });
  let mountBytes = 0;
  if (options.all) {
    const mounts = path.join(store.paths.cache, 'build');
    mountBytes = await treeSize(mounts);
    await rm(mounts, { recursive: true, force: true });
    await rm(memoDir(store.paths), { recursive: true, force: true });
  }
  const swept = await gc(store);
  return { removed, freedBytes: swept.freedBytes + mountBytes, gc: swept };
}
