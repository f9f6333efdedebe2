/**
 * @module store/gc
 * Mark and sweep (design §1). Roots: every index.json entry, and the `gcRoots` digests that
 * container records (`cairn/containers/<id>/container.json`) and build-cache records in meta carry. It runs holding the ingest lock exclusively,
 * so no unfinished import can lose blobs it wrote but has not tagged yet; everything in
 * `cairn/tmp` is then an orphan of a killed process and is removed too, as are temp files a
 * writer killed while replacing index.json (or creating oci-layout) left beside it: checked under
 * the store lock, which every index.json writer holds (a concurrent oci-layout writer that loses
 * its temp file finds the file in place: see `OciLayout.ensure`).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { isDigest, type Digest } from '../digest/index.js';
import { errnoCode } from '../errors.js';
import { sweepDerived } from './derived.js';
import { walkGraph } from './graph.js';
import type { Meta } from './meta.js';
import type { Store } from './store.js';

export interface GcResult {
  readonly removed: Digest[];
  readonly freedBytes: number;
  readonly kept: number;
  /** Orphans removed from `cairn/tmp`, plus index.json/oci-layout temp files of killed writers. */
  readonly tmpRemoved: number;
  /** Derived caches and unpacked layer dirs no reachable image names (paths under `cairn/`). */
  readonly derivedRemoved: string[];
}

/** writeFileAtomic's temp names for index.json and oci-layout (sys/atomic). */
const LAYOUT_TEMP = /^\.(?:index\.json|oci-layout)\.[0-9a-f]+\.tmp$/;

export interface GcOptions {
  /** Report what would go, remove nothing. */
  readonly dryRun?: boolean;
}

function pinnedBy(record: unknown): Digest[] {
  const pinned = (record as { gcRoots?: unknown } | null)?.gcRoots;
  return Array.isArray(pinned) ? pinned.filter(isDigest) : [];
}

/** Digests the build cache pins: `{ gcRoots: string[] }` in its records. */
async function metaRoots(store: Store): Promise<Digest[]> {
  if (!(await store.hasMeta())) return [];
  return store.withMeta(async (meta: Meta) => {
    const roots: Digest[] = [];
    for await (const [, record] of meta.buildCache.entries()) roots.push(...pinnedBy(record));
    return roots;
  });
}

/** Digests containers pin: `gcRoots` in each `cairn/containers/<id>/container.json`. */
export async function containerRoots(store: Store): Promise<Digest[]> {
  const roots: Digest[] = [];
  for (const id of await readdir(store.paths.containers).catch(() => [] as string[])) {
    let text: string;
    try {
      text = await readFile(path.join(store.paths.containers, id, 'container.json'), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') continue;
      throw err;
    }
    try {
      roots.push(...pinnedBy(JSON.parse(text)));
    } catch {
      // An unreadable record pins nothing; fsck reports it.
    }
  }
  return roots;
}

export async function gc(store: Store, options: GcOptions = {}): Promise<GcResult> {
  return store.exclusiveOfIngest(async () => {
    const index = await store.readIndex();
    const roots = [...index.manifests.map((d) => d.digest), ...(await containerRoots(store)), ...(await metaRoots(store))];
    const { reachable, configs } = await walkGraph(store.blobs, roots);
    const removed: Digest[] = [];
    let freedBytes = 0;
    let kept = 0;
    for await (const digest of store.blobs.list()) {
      if (reachable.has(digest)) {
        kept++;
        continue;
      }
      freedBytes += (await store.blobs.stat(digest)) ?? 0;
      removed.push(digest);
      if (!options.dryRun) await store.blobs.delete(digest);
    }
    let tmpRemoved = 0;
    if (!options.dryRun) {
      for (const name of await readdir(store.paths.tmp).catch(() => [] as string[])) {
        await rm(path.join(store.paths.tmp, name), { recursive: true, force: true });
        tmpRemoved++;
      }
      tmpRemoved += await store.withLock(async () => {
        let removedTemps = 0;
        for (const name of await readdir(store.root)) {
          if (!LAYOUT_TEMP.test(name)) continue;
          await rm(path.join(store.root, name), { force: true });
          removedTemps++;
        }
        return removedTemps;
      });
    }
    const derived = await sweepDerived(store, configs, options.dryRun ?? false);
    return { removed, freedBytes, kept, tmpRemoved, derivedRemoved: derived.removed };
  });
}
