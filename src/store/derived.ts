/**
 * @module store/derived
 * gc's second sweep: derived data on disk that is keyed by layer identity rather than by blob —
 * layer indexes (`cairn/indexes/<algorithm>/<hex>` of the diffID), seekable caches of compressed
 * layers (`cairn/cache/seekable/<diffID>.tar.zst`) and unpacked layer directories
 * (`cairn/layers/<chainID>/`, overlay lowerdirs). Whatever no reachable image
 * config names is removed; all of it can be made again from the blobs.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { digestHex, nodeSha256, type Digest } from '../digest/index.js';
import { errnoCode, isCairnError } from '../errors.js';
import { chainIds, parseConfig } from '../oci/index.js';
import type { Store } from './store.js';

export interface DerivedSweep {
  /** Paths removed (or that would be, on a dry run), relative to `cairn/`. */
  readonly removed: string[];
}

/** The diffIDs and chainIDs (hex) the reachable configs name. A config that does not parse pins nothing. */
async function keptLayerIds(store: Store, configs: Iterable<Digest>): Promise<{ diffIds: Set<string>; chainIds: Set<string> }> {
  const diffIds = new Set<string>();
  const chains = new Set<string>();
  for (const digest of configs) {
    let ids: readonly Digest[];
    try {
      ids = parseConfig(await store.blobs.readBytes(digest), `config ${digest}`).rootfs.diff_ids;
    } catch (err) {
      if (isCairnError(err)) continue;
      throw err;
    }
    for (const id of ids) diffIds.add(digestHex(id));
    for (const id of chainIds(ids, nodeSha256)) chains.add(digestHex(id));
  }
  return { diffIds, chainIds: chains };
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    // ENOTDIR: a stray file where a directory of ours belongs (say, under `indexes/`) holds nothing.
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

export async function sweepDerived(store: Store, configs: Iterable<Digest>, dryRun: boolean): Promise<DerivedSweep> {
  const kept = await keptLayerIds(store, configs);
  const removed: string[] = [];
  for (const algorithm of await list(store.paths.indexes)) {
    const dir = path.join(store.paths.indexes, algorithm);
    // Temp files of killed writers have names that are no hex digest: they go too.
    for (const name of await list(dir)) {
      if (kept.diffIds.has(name)) continue;
      removed.push(path.relative(store.paths.cairn, path.join(dir, name)));
      if (!dryRun) await rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
  const seekable = path.join(store.paths.cache, 'seekable');
  for (const name of await list(seekable)) {
    if (kept.diffIds.has(name.replace(/\.tar\.zst$/, ''))) continue;
    removed.push(path.relative(store.paths.cairn, path.join(seekable, name)));
    if (!dryRun) await rm(path.join(seekable, name), { force: true });
  }
  for (const name of await list(store.paths.layers)) {
    if (kept.chainIds.has(name)) continue;
    removed.push(path.relative(store.paths.cairn, path.join(store.paths.layers, name)));
    if (!dryRun) await rm(path.join(store.paths.layers, name), { recursive: true, force: true });
  }
  return { removed };
}
