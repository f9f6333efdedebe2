/**
 * @module diff/union-trees
 * Union trees for image diffs: the merged tree of layer indexes (`src/union/merge.ts`, the same
 * replay `UnionView` does), as a `TreeSide`, and the shortcut that makes diffing two images
 * that share their lower layers cheap.
 *
 * Two images usually share a prefix of layers (a base image and one built on it). Merging the
 * shared layers twice would cost two full replays of the base; instead they are merged once,
 * the tree is copied (`cloneTree`, far cheaper than a replay: no path resolution), and each
 * side's own layers are merged onto its copy. A directory of a copy whose whole subtree is
 * still what it was copied from (`pristineDirs`: same nodes, same metadata, checked bottom-up
 * in one pass without sorting or allocating) is skipped by the diff, since the other side
 * holds the same subtree. This relies on how a merge changes a tree (see `pristineDirs`);
 * `test/diff/images.test.ts` holds it against the plain diff of two independent replays on
 * random layer stacks.
 */
import type { Digest } from '../digest/digest.js';
import { CairnError } from '../errors.js';
import type { LayerIndex } from '../layer/layer-index.js';
import { mergeLayer } from '../union/merge.js';
import { newRoot, sortedChildren, type Inode, type TreeNode } from '../union/tree.js';
import type { EntryMeta } from './change.js';
import type { SideEntry, TreeSide } from './tree-diff.js';

/** Merges layer indexes onto `root` (mutating it); `first` is the stack position of `layers[0]`. */
export function mergeLayers(root: TreeNode, layers: readonly LayerIndex[], first = 0): TreeNode {
  layers.forEach((index, i) => mergeLayer(root, index, first + i));
  return root;
}

/** The merged tree of layer indexes, bottom first (what `UnionView` builds, without a store). */
export function unionTree(layers: readonly LayerIndex[]): TreeNode {
  return mergeLayers(newRoot(), layers);
}

/** A node of a copy remembers the node it was copied from (nodes a merge adds have none). */
interface CopiedNode extends TreeNode {
  readonly from?: TreeNode;
}

export interface ClonedTree {
  readonly root: TreeNode;
  /** The node a node of the copy was copied from (undefined for nodes added since). */
  source(node: TreeNode): TreeNode | undefined;
}

/** A deep copy of a tree (hardlinked inodes stay shared within the copy). */
export function cloneTree(root: TreeNode): ClonedTree {
  const shared = new Map<Inode, Inode>();
  const copy = (node: TreeNode): CopiedNode => {
    let inode: Inode;
    if (!node.children && node.inode.nlink > 1) {
      inode = shared.get(node.inode) ?? { ...node.inode };
      shared.set(node.inode, inode);
    } else {
      inode = { ...node.inode };
    }
    if (!node.children) return { inode, children: undefined, from: node };
    const children = new Map<string, TreeNode>();
    for (const [name, child] of node.children) children.set(name, copy(child));
    return { inode, children, from: node };
  };
  return { root: copy(root), source: (node) => (node as CopiedNode).from };
}

/** Whether an inode still says what its source said (link counts aside: diffs ignore them). */
export function sameInode(a: Inode, b: Inode): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.mtime === b.mtime &&
    a.size === b.size &&
    a.linkname === b.linkname &&
    a.devmajor === b.devmajor &&
    a.devminor === b.devminor &&
    a.xattrs === b.xattrs &&
    a.content === b.content &&
    a.origin === b.origin
  );
}

/**
 * The directories of a copy whose whole subtree is unchanged since it was copied: the same
 * nodes under the same names, and the same directory metadata. A merge writes a new node for
 * every non-directory entry it applies and mutates in place only the metadata of a directory
 * it re-sends (and link counts, which diffs ignore), so a non-directory node that is still the
 * copy of the same source node is unchanged.
 */
export function pristineDirs(tree: ClonedTree): Set<TreeNode> {
  const out = new Set<TreeNode>();
  const check = (node: TreeNode): boolean => {
    const from = tree.source(node);
    const fromChildren = from?.children;
    const children = node.children as Map<string, TreeNode>;
    let ok = fromChildren !== undefined && fromChildren.size === children.size && sameInode(node.inode, (from as TreeNode).inode);
    for (const [name, child] of children) {
      if (child.children) {
        if (!check(child)) ok = false;
      }
      if (ok) {
        const childFrom = tree.source(child);
        if (childFrom === undefined || (fromChildren as Map<string, TreeNode>).get(name) !== childFrom) ok = false;
      }
    }
    if (ok) out.add(node);
    return ok;
  };
  check(tree.root);
  return out;
}

function metaOfInode(inode: Inode, isDir: boolean): EntryMeta {
  const meta: { -readonly [K in keyof EntryMeta]: EntryMeta[K] } = {
    type: inode.type,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    mtime: inode.mtime,
    size: inode.type === 'file' ? inode.size : 0,
  };
  if (!isDir) meta.nlink = inode.nlink;
  if (inode.linkname !== undefined && inode.type === 'symlink') meta.linkname = inode.linkname;
  if (inode.devmajor !== undefined) meta.devmajor = inode.devmajor;
  if (inode.devminor !== undefined) meta.devminor = inode.devminor;
  if (inode.xattrs && Object.keys(inode.xattrs).length > 0) meta.xattrs = inode.xattrs;
  if (inode.content?.kind === 'layer') meta.sha256 = inode.content.sha256;
  return meta;
}

/** A union tree: every answer is in memory. */
export class UnionTreeSide implements TreeSide<TreeNode> {
  readonly root: TreeNode;

  constructor(root: TreeNode) {
    this.root = root;
  }

  list(dir: TreeNode): SideEntry<TreeNode>[] {
    return sortedChildren(dir).map(([name, node]) => ({ name, meta: metaOfInode(node.inode, node.children !== undefined), handle: node }));
  }

  digest(_entry: SideEntry<TreeNode>, rel: string): Promise<Digest> {
    // Every file of a layer index has its digest; only a hand-made tree can lack one.
    return Promise.reject(new CairnError('unsupported', `/${rel}: no content digest in the layer index`, { path: `/${rel}` }));
  }
}
