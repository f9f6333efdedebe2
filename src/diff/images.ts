/**
 * @module diff/images
 * Changesets between images, from layer indexes only (design §3): each image's layers are
 * merged into an in-memory union tree (`src/union/merge.ts`, the same replay `UnionView` does)
 * and the two trees are diffed; file contents are compared by the sha256 the indexes hold.
 * Nothing is unpacked; a layer without an index is indexed once (one decompression pass,
 * saved in meta) and never again.
 *
 * The order is old → new: `diffImages(store, a, b)` lists what turns `a` into `b` (like
 * `diff a b`). `podman diff a b` reads it the other way round (changes of `a` relative to `b`).
 */
import type { LayerRef } from '../layer/index-store.js';
import { imageLayers, indexLayers } from '../layer/index-store.js';
import type { LayerIndex } from '../layer/layer-index.js';
import type { ImageManifest } from '../oci/index.js';
import type { Store } from '../store/store.js';
import type { Change } from './change.js';
import type { TreeNode } from '../union/tree.js';
import { cloneTree, mergeLayers, pristineDirs, UnionTreeSide, unionTree } from './union-trees.js';
import { diffTrees } from './tree-diff.js';

/**
 * An image (resolved by the caller, e.g. `resolveImage`: this module sits below `src/image`) or
 * its layers, bottom first.
 */
export type ImageInput = { readonly manifest: ImageManifest } | readonly LayerRef[];

async function layersOf(store: Store, image: ImageInput): Promise<readonly LayerRef[]> {
  if (Array.isArray(image)) return image as readonly LayerRef[];
  return imageLayers(store, image as { readonly manifest: ImageManifest });
}

/**
 * The changes that turn image `a` into image `b`, sorted, from their layer indexes.
 *
 * @example
 * const changes = await diffImages(store, await resolveImage(store, 'debian:bookworm'), await resolveImage(store, 'debian:bookworm-v2'));
 * process.stdout.write(formatChanges(changes)); // C /etc/debian_version ...
 */
export async function diffImages(store: Store, a: ImageInput, b: ImageInput): Promise<Change[]> {
  const [layersA, layersB] = await Promise.all([layersOf(store, a), layersOf(store, b)]);
  // One meta read for both images (shared layers are decoded once).
  const indexed = await indexLayers(store, [...layersA, ...layersB]);
  const indexes = indexed.map((l) => l.index);
  return diffLayerStacks(indexes.slice(0, layersA.length), indexes.slice(layersA.length));
}

/**
 * The changes between the union of layer stack `a` and that of `b` (indexes, bottom first).
 * Pure computation on the indexes: no store, no I/O. Layers the two stacks share at the bottom
 * are merged once (see `union-trees.ts`).
 */
export function diffLayerStacks(a: readonly LayerIndex[], b: readonly LayerIndex[]): Promise<Change[]> {
  let shared = 0;
  while (shared < a.length && shared < b.length && a[shared]?.diffId === b[shared]?.diffId) shared++;
  if (shared === 0) return diffTrees(new UnionTreeSide(unionTree(a)), new UnionTreeSide(unionTree(b)));
  const base = unionTree(a.slice(0, shared));
  // A side with no layers of its own is the base itself (never mutated); the other gets a copy.
  const side = (layers: readonly LayerIndex[], copy: boolean): { root: TreeNode; from: (n: TreeNode) => TreeNode | undefined } => {
    if (!copy) return { root: base, from: (n) => n };
    const cloned = cloneTree(base);
    mergeLayers(cloned.root, layers.slice(shared), shared);
    const pristine = pristineDirs(cloned);
    return { root: cloned.root, from: (n) => (pristine.has(n) ? cloned.source(n) : undefined) };
  };
  const sideA = side(a, a.length > shared);
  const sideB = side(b, b.length > shared || a.length === shared);
  return diffTrees(new UnionTreeSide(sideA.root), new UnionTreeSide(sideB.root), {
    identical: (x, y) => {
      const fx = sideA.from(x);
      return fx !== undefined && fx === sideB.from(y);
    },
  });
}

/**
 * What an image's top layer changes: the image against itself without its last layer (what
 * `podman diff IMAGE` shows). An image without layers changes nothing.
 */
export async function diffTopLayer(store: Store, image: ImageInput): Promise<Change[]> {
  const layers = await layersOf(store, image);
  if (layers.length === 0) return [];
  return diffImages(store, layers.slice(0, -1), layers);
}
