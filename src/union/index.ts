/**
 * @module union
 * Union views (design §5): the merged tree of an image's layers and an optional writable upper,
 * from layer indexes, without unpacking.
 */
export { UnionView } from './view.js';
export type { DirEntry, LayerContentSource, OpenUnionViewOptions, UnionLayer, UnionStat, UnionViewOptions, WalkEntry } from './view.js';
export { DirectoryUpper, MemoryUpper } from './upper.js';
export type { UpperEntry, UpperLayer } from './upper.js';
export { mergeLayer, mergeUpper } from './merge.js';
export { newRoot, resolve as resolveInTree } from './tree.js';
export type { ContentRef, Inode, NodeType, Origin, TreeNode } from './tree.js';
