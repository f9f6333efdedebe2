/**
 * @module diff/images
 * Changesets between images, from layer indexes only (design §3): each image's layers are
 * merged into an in-memory union tree (`src/union/merge.ts`, the same replay `UnionView` does)
 * and the two trees are diffed; file contents are compared by the sha256 the indexes hold.
 * Layers both images share are not replayed when they can be read lazily
 * (`src/union/lower-stack.ts`): then the diff costs what the other layers touch.
 * Nothing is unpacked; a layer without an index is indexed once (one decompression pass,
 * saved in meta) and never again.
 *
 * The order is old → new: `diffImages(store, a, b)` lists what turns `a` into `b` (like
 * `diff a b`). `podman diff a b` reads it the other way round (changes of `a` relative to `b`).
 */
import type { LayerRef } from '../layer/index-store.js';
import { imageLayers, layerTables } from '../layer/index-store.js';
import type { Digest } from '../digest/digest.js';
import { IndexTable } from '../layer/index-table.js';
import type { LayerIndex } from '../layer/layer-index.js';
import type { ImageManifest } from '../oci/index.js';
import type { Store } from '../store/store.js';
import type { Change } from './change.js';
import type { TreeNode } from '../union/tree.js';
import { isUnloaded, LowerStack } from '../union/lower-stack.js';
import { cloneTree, mergeLayers, pristineDirs, sameInode, UnionTreeSide, unionTree } from './union-trees.js';
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
  // Shared layers are read once; only the layers each side's own merge needs are decoded whole.
  const tables = await layerTables(store, [...layersA, ...layersB]);
  const layer = stackLayerOf(new Map());
  return diffStacks(tables.slice(0, layersA.length).map(layer), tables.slice(layersA.length).map(layer));
}

/**
 * The changes between the union of layer stack `a` and that of `b` (indexes, bottom first).
 * Pure computation on the indexes: no store, no I/O. Layers the two stacks share at the bottom
 * are read once (see `diffStacks`).
 */
export function diffLayerStacks(a: readonly LayerIndex[], b: readonly LayerIndex[]): Promise<Change[]> {
  const tables = new Map<LayerIndex, IndexTable>();
  const layer = (index: LayerIndex): StackLayer => ({
    diffId: index.diffId,
    index,
    get table() {
      let table = tables.get(index);
      if (!table) tables.set(index, (table = IndexTable.of(index)));
      return table;
    },
  });
  return diffStacks(a.map(layer), b.map(layer));
}

/** Stack layers of index tables, each decoded whole only when asked (once per table: `decoded`). */
function stackLayerOf(decoded: Map<IndexTable, LayerIndex>): (table: IndexTable) => StackLayer {
  return (table) => ({
    diffId: table.diffId,
    table,
    get index() {
      let index = decoded.get(table);
      if (!index) decoded.set(table, (index = table.toIndex()));
      return index;
    },
  });
}

/** A layer of a stack: its index, in full and as a table (either read only when needed). */
interface StackLayer {
  readonly diffId: Digest;
  readonly index: LayerIndex;
  readonly table: IndexTable;
}

/**
 * The diff of two stacks. With a shared bottom that lands literally (`LowerStack.open`), each
 * side's own layers are merged onto a lazy tree of it and only what they touch is read;
 * otherwise the shared layers are replayed once and copied (`union-trees.ts`); with nothing
 * shared, both stacks are replayed.
 */
function diffStacks(a: readonly StackLayer[], b: readonly StackLayer[]): Promise<Change[]> {
  let shared = 0;
  while (shared < a.length && shared < b.length && a[shared]?.diffId === b[shared]?.diffId) shared++;
  const own = (layers: readonly StackLayer[]): LayerIndex[] => layers.slice(shared).map((l) => l.index);
  const lower = shared > 0 ? LowerStack.open(a.slice(0, shared).map((l) => l.table)) : undefined;
  if (lower) {
    const sideA = mergeLayers(lower.root(), own(a), shared);
    const sideB = mergeLayers(lower.root(), own(b), shared);
    return diffTrees(new UnionTreeSide(sideA), new UnionTreeSide(sideB), {
      // A directory neither side's own layers went into is the shared stack's on both sides.
      identical: (x, y) => isUnloaded(x) && isUnloaded(y) && sameInode(x.inode, y.inode),
    });
  }
  const indexesA = a.map((l) => l.index);
  const indexesB = b.map((l) => l.index);
  if (shared === 0) return diffTrees(new UnionTreeSide(unionTree(indexesA)), new UnionTreeSide(unionTree(indexesB)));
  const base = unionTree(indexesA.slice(0, shared));
  // A side with no layers of its own is the base itself (never mutated); the other gets a copy.
  const side = (layers: readonly LayerIndex[], copy: boolean): { root: TreeNode; from: (n: TreeNode) => TreeNode | undefined } => {
    if (!copy) return { root: base, from: (n) => n };
    const cloned = cloneTree(base);
    mergeLayers(cloned.root, layers.slice(shared), shared);
    const pristine = pristineDirs(cloned);
    return { root: cloned.root, from: (n) => (pristine.has(n) ? cloned.source(n) : undefined) };
  };
  const sideA = side(indexesA, a.length > shared);
  const sideB = side(indexesB, b.length > shared || a.length === shared);
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
