/**
 * @module container/layers
 * Unpacked layers for overlay lowerdirs, one directory per chainID under `cairn/layers/`
 * (design §6). As containerd's overlay snapshotter does, a layer is applied onto an overlay
 * mount of its parents with a fresh upper, so its paths resolve through the parents' symlinks
 * (`bin -> usr/bin` then `bin/foo` lands in `usr/bin/foo`) and its deletions become kernel
 * whiteouts; that upper is the layer's directory. Its content depends on the parents, hence the
 * chainID key (image-spec config.md).
 *
 * Each directory is built in `cairn/tmp` and renamed into place: a reader never sees half a
 * layer, and two containers preparing the same layer at once both succeed (the later rename
 * loses, and its copy is dropped). Blob digests and diffIDs are verified while applying.
 */
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { digestHex, nodeSha256, type Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import type { ResolvedImage } from '../image/resolve.js';
import { chainIds, type ImageConfig } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { mountOverlay, unmount } from '../sys/mount.js';

/** The chainID directory names (hex) of an image's layers, bottom first. */
export function layerDirNames(config: ImageConfig): string[] {
  return chainIds(config.rootfs.diff_ids, nodeSha256).map(digestHex);
}

/** Synchronous, as every container create asks once per layer (see sys/atomic). */
function exists(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

export interface PrepareLayersOptions {
  /** Called before a layer that is not unpacked yet is built. */
  readonly onLayer?: (info: { index: number; count: number; digest: Digest }) => void;
}

/**
 * Makes sure every layer of `image` has its directory; returns their names (chainID hex,
 * bottom first), relative to `store.paths.layers`. Run it inside `store.ingest()`.
 */
export async function prepareLayers(store: Store, image: ResolvedImage, config: ImageConfig, options: PrepareLayersOptions = {}): Promise<string[]> {
  const names = layerDirNames(config);
  const layers = image.manifest.layers;
  if (names.length !== layers.length) {
    throw new CairnError('invalid-document', `image ${image.id}: the manifest lists ${layers.length} layers but the config ${names.length} diff_ids`, {});
  }
  mkdirSync(store.paths.layers, { recursive: true });
  for (const [i, name] of names.entries()) {
    const final = path.join(store.paths.layers, name);
    if (exists(final)) continue;
    options.onLayer?.({ index: i + 1, count: names.length, digest: (layers[i] as { digest: Digest }).digest });
    await buildLayer(store, image, config, names, i);
  }
  return names;
}

async function buildLayer(store: Store, image: ResolvedImage, config: ImageConfig, names: readonly string[], i: number): Promise<void> {
  const layer = image.manifest.layers[i];
  const diffId = config.rootfs.diff_ids[i];
  if (!layer || !diffId) throw new Error(`layer ${i} out of range`);
  const what = `layer ${i + 1} of ${names.length} (${layer.digest})`;
  // The unpacker (tar reader, applier, workers) loads only when a layer is not unpacked yet.
  const { applyVerifiedLayer } = await import('../layer/unpack.js');
  const scratch = await mkdtemp(path.join(store.paths.tmp, 'layer-'));
  const upper = path.join(scratch, 'upper');
  const work = path.join(scratch, 'work');
  const merged = path.join(scratch, 'merged');
  try {
    await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
    if (i === 0) {
      await applyVerifiedLayer(store, layer, diffId, upper, { what });
    } else {
      const lower = names.slice(0, i).reverse();
      await mountOverlay({ lower, upper, work, target: merged, cwd: store.paths.layers });
      try {
        await applyVerifiedLayer(store, layer, diffId, merged, { what });
      } finally {
        await unmount(merged);
      }
    }
    try {
      await rename(upper, path.join(store.paths.layers, names[i] as string));
    } catch (err) {
      // Another process finished the same layer first: keep theirs.
      if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST') throw err;
    }
  } finally {
    await unmount(merged, { lazy: true }).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}
