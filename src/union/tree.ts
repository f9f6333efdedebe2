/**
 * @module union/tree
 * The merged tree of a union view, in memory and metadata only: directories hold their
 * children by name; every other node points to an inode, which hardlinked paths share (so a
 * hardlink keeps the content its target had when it was linked, as on a real filesystem).
 * File inodes say where their content is (a layer's tar at an offset, or a file of the upper).
 *
 * Path resolution is containerd/continuity's `RootPath`, scoped to the tree's root: `..` never
 * climbs above the root, absolute symlink targets are re-rooted, missing components are joined
 * lexically (a later `..` steps back over them), a component under a non-directory fails with
 * ENOTDIR (or is taken literally, for the merge), and more than 255 symlinks fail with ELOOP. The cases of
 * `continuity/rootpath.json` are its tests. No Node imports: pure data and functions.
 */
import type { Digest } from '../digest/digest.js';
import { CairnError } from '../errors.js';
import type { FileType } from '../layer/entry-meta.js';

export type NodeType = FileType;

/** Where a file's bytes are. */
export type ContentRef =
  | { readonly kind: 'layer'; readonly layer: number; readonly offset: number; readonly size: number; readonly sha256: Digest }
  | { readonly kind: 'upper'; readonly path: string; readonly size: number };

/** The layer an inode came from: an index into the view's layers, 'upper', or 'implicit' (a
 *  parent directory created because an entry needed it). */
export type Origin = number | 'upper' | 'implicit';

export interface Inode {
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Content size for files, 0 otherwise. */
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array>;
  content?: ContentRef;
  origin: Origin;
  /** Paths that name this inode (hardlinks); 1 for directories. */
  nlink: number;
}

export interface TreeNode {
  inode: Inode;
  /** Present for directories only. */
  children?: Map<string, TreeNode>;
}

/** The root directory: 0755, 0:0, epoch (containerd ignores an entry for the root itself). */
export function newRoot(): TreeNode {
  return { inode: dirInode('implicit'), children: new Map() };
}

export function dirInode(origin: Origin, init: Partial<Inode> = {}): Inode {
  return { type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, ...init, origin, nlink: 1 };
}

export type Errno = 'ENOENT' | 'ENOTDIR' | 'ELOOP' | 'EISDIR' | 'EINVAL';

/** A lookup failure with an errno-like reason in `data.errno`. */
export function pathError(errno: Errno, path: string, message: string): CairnError {
  return new CairnError(errno === 'ENOENT' ? 'not-found' : 'invalid-argument', `${path}: ${message}`, { path, errno });
}

/** Components of a path: '' and '.' dropped; '..' kept (the resolver scopes it). */
export function splitPath(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

export interface Resolved {
  /** The resolved path, as components from the root (no '.', '..' or symlinks before the last). */
  readonly parts: string[];
  /** The node there, or undefined when it does not exist. */
  readonly node: TreeNode | undefined;
}

const MAX_LINKS = 255;

/**
 * Resolves `path` inside the tree, following symlinks in every component but the last, and the
 * last one too when `followLast` is set. With `lenient`, a name under a non-directory is taken
 * literally (as missing) instead of failing with ENOTDIR: what the applier's resolver does, so
 * that the merge fails or skips exactly where applying would.
 */
export function resolve(root: TreeNode, path: string | readonly string[], followLast: boolean, lenient = false): Resolved {
  const shown = typeof path === 'string' ? path : path.join('/');
  const pending = typeof path === 'string' ? splitPath(path) : path.filter((p) => p !== '' && p !== '.');
  let parts: string[] = [];
  let nodes: (TreeNode | undefined)[] = [root];
  let links = 0;
  let i = 0;
  let queue = pending.slice();
  while (i < queue.length) {
    const name = queue[i++] as string;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (parts.length > 0) {
        parts.pop();
        nodes.pop();
      }
      continue;
    }
    const parent = nodes[nodes.length - 1];
    let child: TreeNode | undefined;
    if (parent) {
      if (parent.children) child = parent.children.get(name);
      else if (!lenient) throw pathError('ENOTDIR', shown, `${parts.join('/') || '/'} is not a directory`);
    }
    const last = i === queue.length;
    if (child && child.inode.type === 'symlink' && (!last || followLast)) {
      if (++links > MAX_LINKS) throw pathError('ELOOP', shown, 'too many levels of symbolic links');
      const target = child.inode.linkname ?? '';
      if (target.startsWith('/')) {
        parts = [];
        nodes = [root];
      }
      queue = [...target.split('/'), ...queue.slice(i)];
      i = 0;
      continue;
    }
    parts.push(name);
    nodes.push(child);
  }
  return { parts, node: nodes[nodes.length - 1] };
}

/** The node at resolved components (no symlink following), or undefined. */
export function lookup(root: TreeNode, parts: readonly string[]): TreeNode | undefined {
  let node: TreeNode | undefined = root;
  for (const part of parts) {
    node = node?.children?.get(part);
    if (!node) return undefined;
  }
  return node;
}

/** Drops a subtree: hardlink counts of the inodes in it go down. */
export function release(node: TreeNode): void {
  if (node.children) for (const child of node.children.values()) release(child);
  else node.inode.nlink = Math.max(0, node.inode.nlink - 1);
}

/** UTF-8 byte order of names: the order of `sortEntries` within one directory. */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) if (ea[i] !== eb[i]) return (ea[i] as number) - (eb[i] as number);
  return ea.length - eb.length;
}

/** Children of a directory, sorted. */
export function sortedChildren(node: TreeNode): [string, TreeNode][] {
  const entries = [...(node.children ?? new Map<string, TreeNode>())];
  // Plain comparison equals UTF-8 byte order except across surrogate pairs; check only then.
  const ascii = entries.every(([name]) => /^[\x00-\x7f]*$/.test(name));
  return entries.sort(([a], [b]) => (ascii ? (a < b ? -1 : a > b ? 1 : 0) : compareNames(a, b)));
}
