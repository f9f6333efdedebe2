/**
 * @module diff/directories
 * Changesets of directories on disk: between two directories (`diffDirectories`, moby's
 * `ChangesDirs` and continuity's `Changes` territory) and between a directory and an image's
 * layers (`diffDirectoryAgainstImage`, a kaniko-style snapshot: the directory walked with
 * `lstat`, the image answered by its layer indexes, nothing unpacked). Both walk every entry of
 * both trees once; contents are read only where metadata cannot decide (`compare.ts`).
 *
 * The new side's A/C files that have several names in the new tree carry `after.links` (every
 * name of the inode), so `writeChangesetLayer` can keep them hardlinked.
 */
import type { LayerIndex } from '../layer/layer-index.js';
import { UnionView } from '../union/view.js';
import type { Change } from './change.js';
import { DiskSide, ViewSide } from './sides.js';
import { UnionTreeSide, unionTree } from './union-trees.js';
import { diffTrees, type TreeSide } from './tree-diff.js';

export interface DirectoryDiffOptions {
  /** Read and compare xattrs (default true; Linux only, ENOTSUP is "none"). */
  xattrs?: boolean;
}

/**
 * The changes that turn `baseDir` into `targetDir`, sorted (docker's A/C/D rules, see
 * `tree-diff.ts`).
 *
 * @example
 * for (const c of await diffDirectories('/tmp/rootfs', '/tmp/rootfs-after')) console.log(formatChange(c));
 */
export async function diffDirectories(baseDir: string, targetDir: string, options: DirectoryDiffOptions = {}): Promise<Change[]> {
  const opts = options.xattrs === undefined ? {} : { xattrs: options.xattrs };
  const target = new DiskSide(targetDir, opts);
  return withLinks(await diffTrees(new DiskSide(baseDir, opts), target), target);
}

/**
 * The changes that turn an image (its layer indexes, bottom first, or a union view of it) into
 * the directory `dir`: what a build step or a copy-up container changed, without unpacking the
 * image. Paths where the image has a symlink and the directory a real directory (or the other
 * way) are type changes, as on disk.
 *
 * @example
 * const layers = (await indexImage(store, image)).map((l) => l.index);
 * const changes = await diffDirectoryAgainstImage('/tmp/rootfs', layers);
 */
export async function diffDirectoryAgainstImage(
  dir: string,
  image: readonly LayerIndex[] | UnionView,
  options: DirectoryDiffOptions = {},
): Promise<Change[]> {
  const base: TreeSide<unknown> =
    image instanceof UnionView ? (new ViewSide(image) as TreeSide<unknown>) : (new UnionTreeSide(unionTree(image)) as TreeSide<unknown>);
  const target = new DiskSide(dir, options.xattrs === undefined ? {} : { xattrs: options.xattrs });
  return withLinks(await diffTrees(base, target), target);
}

/** Adds `after.links` to A/C files that share their inode with other names of the new tree. */
function withLinks(changes: Change[], target: DiskSide): Change[] {
  return changes.map((change) => {
    if (!change.after || change.after.type !== 'file' || (change.after.nlink ?? 1) < 2) return change;
    const links = target.linksOf(change.path.slice(1));
    return links ? { ...change, after: { ...change.after, links } } : change;
  });
}
