/**
 * @module union/lower-stack
 * The merged tree of a stack of layer indexes, built lazily: a directory lists its children
 * from the indexes (binary search in `IndexTable`'s key order, no replay) the first time
 * anything asks for them. Two images that share lower layers differ only where their own upper
 * layers write, so an image diff merges each side's own layers onto a lazy tree of the shared
 * stack (the real `mergeLayer`, which loads the directories it walks through) and skips every
 * directory that neither side loaded (`isUnloaded`): for Debian bookworm → bookworm-v2 that is a
 * handful of directories out of 783.
 *
 * A lazy lookup is the replay (`./merge.ts`) only when every entry of the stack lands at its
 * literal path; `LowerStack.open` checks that and returns undefined otherwise (the caller then
 * replays). It requires, per layer, in key order:
 * - no `..` path, no path twice, nothing below a non-directory of the same layer;
 * - nothing below a symlink of a lower layer (where the replay would follow it), and no entry
 *   whose parent is a non-directory in the layers below (where the replay fails or depends on
 *   archive order);
 * - whiteouts only in the bottom layer (where they have nothing to delete: no-ops);
 * - hardlinks only in a stack of one layer, each naming an earlier non-directory entry (their
 *   link counts are then fixed: nothing replaces a name).
 * Everything else is what the replay does: a non-directory hides what lower layers hold at its
 * path; a directory merges with the directories below it (its metadata from the top-most
 * directory entry, or 0755 0:0 epoch when every layer only implies it) until a non-directory
 * below ends it.
 */
import { keyOf, NAME_CLIMBS, NAME_ROOT, NAME_WHITEOUT, pathKey, type IndexTable } from '../layer/index-table.js';
import { parseWhiteout } from '../layer/whiteout.js';
import { inodeOf } from './merge.js';
import { dirInode, type Inode, type TreeNode } from './tree.js';

const SLASH = 0x2f;

interface StackLayer {
  readonly table: IndexTable;
  /** Entry indexes in key order, without the root entry (`.`) and whiteouts. */
  readonly order: Uint32Array;
}

/** The entries of one layer below a directory: positions `lo` … `hi` of the layer's `order`. */
interface Source {
  readonly layer: number;
  readonly lo: number;
  readonly hi: number;
}

/** What the layers hold at one child name, collected top-down. */
interface ChildPlan {
  /** A non-directory entry on top: the child is that entry. */
  file?: { layer: number; entry: number };
  /** The top-most directory entry: its metadata. */
  meta?: { layer: number; entry: number };
  readonly sources: Source[];
  /** A non-directory below the directory ends the merge. */
  closed: boolean;
  /** Where the names of the child's own children start in its entries' paths (after `name/`). */
  readonly prefix: number;
}

/** Per tree: the inodes of hardlinked entries, shared by all their names. */
type LinkedInodes = Map<number, Inode>;

const lowerBound = (layer: StackLayer, key: Uint8Array, from: number, to: number): number => layer.table.lowerBound(key, from, to, layer.order);

/** The entry of a layer at a path key, or undefined. */
function find(layer: StackLayer, key: Uint8Array): number | undefined {
  const i = layer.order[lowerBound(layer, key, 0, layer.order.length)];
  return i !== undefined && layer.table.compare(i, key) === 0 ? i : undefined;
}

/** Positions of the entries strictly below `path` (path bytes, `length` of them) in a layer. */
function below(layer: StackLayer, path: Uint8Array, length: number, from = 0, to = layer.order.length): [number, number] {
  // Below `p` are the keys `p` 0x00 …; the first key past them starts with `p` 0x01 or more.
  const lo = lowerBound(layer, keyOf(path, length, 0), from, to);
  return [lo, lowerBound(layer, keyOf(path, length, 1), lo, to)];
}


/** A directory's children, read from the stack on first use (see the module comment). */
class LazyChildren extends Map<string, TreeNode> {
  #load: ((add: (name: string, node: TreeNode) => void) => void) | undefined;

  constructor(load: (add: (name: string, node: TreeNode) => void) => void) {
    super();
    this.#load = load;
  }

  get loaded(): boolean {
    return this.#load === undefined;
  }

  #ensure(): void {
    const load = this.#load;
    if (load === undefined) return;
    this.#load = undefined;
    load((name, node) => super.set(name, node));
  }

  override get size(): number {
    this.#ensure();
    return super.size;
  }
  override get(name: string): TreeNode | undefined {
    this.#ensure();
    return super.get(name);
  }
  override has(name: string): boolean {
    this.#ensure();
    return super.has(name);
  }
  override set(name: string, node: TreeNode): this {
    this.#ensure();
    return super.set(name, node);
  }
  override delete(name: string): boolean {
    this.#ensure();
    return super.delete(name);
  }
  override clear(): void {
    this.#load = undefined;
    super.clear();
  }
  override forEach(fn: (node: TreeNode, name: string, map: Map<string, TreeNode>) => void, thisArg?: unknown): void {
    this.#ensure();
    super.forEach(fn, thisArg);
  }
  override entries(): MapIterator<[string, TreeNode]> {
    this.#ensure();
    return super.entries();
  }
  override keys(): MapIterator<string> {
    this.#ensure();
    return super.keys();
  }
  override values(): MapIterator<TreeNode> {
    this.#ensure();
    return super.values();
  }
  override [Symbol.iterator](): MapIterator<[string, TreeNode]> {
    return this.entries();
  }
}

/**
 * Whether `node` is a directory of a lazy tree whose children nothing has asked for: its whole
 * subtree is still the stack's.
 */
export function isUnloaded(node: TreeNode): boolean {
  return node.children instanceof LazyChildren && !node.children.loaded;
}

/** A stack of layer indexes whose merged tree can be read lazily (see the module comment). */
export class LowerStack {
  readonly #layers: readonly StackLayer[];
  /** The top-most directory entry for the root (`.`), if any. */
  readonly #rootMeta: { layer: number; entry: number } | undefined;
  /** Hardlink entry → the entry whose inode it shares; that entry → its number of names. */
  readonly #linkOf: ReadonlyMap<number, number>;
  readonly #names: ReadonlyMap<number, number>;

  private constructor(
    layers: readonly StackLayer[],
    rootMeta: { layer: number; entry: number } | undefined,
    linkOf: ReadonlyMap<number, number>,
    names: ReadonlyMap<number, number>,
  ) {
    this.#layers = layers;
    this.#rootMeta = rootMeta;
    this.#linkOf = linkOf;
    this.#names = names;
  }

  /**
   * The lazy form of a stack (bottom first), or undefined when a lazy lookup would not be what
   * the replay gives (see the module comment).
   *
   * @example
   * const lower = LowerStack.open(sharedTables);
   * const root = lower ? lower.root() : unionTree(sharedIndexes);
   */
  static open(tables: readonly IndexTable[]): LowerStack | undefined {
    const layers: StackLayer[] = [];
    const links: number[] = [];
    let rootMeta: { layer: number; entry: number } | undefined;
    for (const [k, table] of tables.entries()) {
      const sorted = table.sorted;
      const order = new Uint32Array(sorted.length);
      let n = 0;
      let prev = -1;
      // Indexed loops: iterating a typed array costs more while the code is still cold.
      for (let p = 0; p < sorted.length; p++) {
        const i = sorted[p] as number;
        const name = table.nameFlags(i);
        if (name & NAME_ROOT) {
          if (table.isDirectory(i)) rootMeta = { layer: k, entry: i };
          continue;
        }
        if (name & NAME_CLIMBS) return undefined;
        if (prev >= 0) {
          // Below a symlink the replay would follow it (a whiteout's parent too).
          const relation = table.relation(prev, i);
          if (relation === 'same' || (relation === 'below' && !table.isDirectory(prev))) return undefined;
        }
        if (name & NAME_WHITEOUT) {
          if (k > 0 || !validWhiteout(table, i)) return undefined;
          continue;
        }
        if (table.type(i) === 'hardlink') {
          if (tables.length > 1) return undefined;
          links.push(i);
        }
        prev = i;
        order[n++] = i;
      }
      const layer = { table, order: order.subarray(0, n) };
      if (k > 0 && !landsLiterally(layers, layer)) return undefined;
      layers.push(layer);
    }
    const linked = hardlinks(layers[0] as StackLayer, links);
    if (linked === undefined) return undefined;
    return new LowerStack(layers, rootMeta, linked.linkOf, linked.names);
  }

  /** A new lazy tree of the stack (each tree loads and changes its own nodes). */
  root(): TreeNode {
    const meta = this.#rootMeta;
    const inode = meta ? inodeOf(this.#entry(meta), meta.layer) : dirInode('implicit');
    const sources = this.#layers.map((layer, k) => ({ layer: k, lo: 0, hi: layer.order.length })).reverse();
    return { inode, children: this.#children(sources, 0, new Map()) };
  }

  #entry(at: { layer: number; entry: number }): ReturnType<IndexTable['entry']> {
    return (this.#layers[at.layer] as StackLayer).table.entry(at.entry);
  }

  #children(sources: readonly Source[], prefix: number, linked: LinkedInodes): LazyChildren {
    return new LazyChildren((add) => {
      for (const [name, plan] of this.#plans(sources, prefix)) add(name, this.#node(plan, linked));
    });
  }

  /** The children of a directory: its sources (top-down) hold entries whose paths start at `prefix`. */
  #plans(sources: readonly Source[], prefix: number): Map<string, ChildPlan> {
    const plans = new Map<string, ChildPlan>();
    for (const source of sources) {
      const layer = this.#layers[source.layer] as StackLayer;
      const { table, order } = layer;
      let p = source.lo;
      while (p < source.hi) {
        const i = order[p] as number;
        const end = table.slashFrom(i, prefix);
        const name = table.pathText(i, prefix, end);
        const explicit = table.pathLength(i) === end;
        const [lo, hi] = below(layer, table.pathBytes(i), end, p, source.hi);
        let plan = plans.get(name);
        if (!plan) {
          plan = { sources: [], closed: false, prefix: end + 1 };
          plans.set(name, plan);
        }
        p = hi;
        if (plan.file || plan.closed) continue;
        if (explicit && table.type(i) !== 'directory') {
          // A non-directory on top is the child; below a directory it ends the merge.
          if (plan.sources.length === 0) plan.file = { layer: source.layer, entry: i };
          else plan.closed = true;
          continue;
        }
        plan.sources.push({ layer: source.layer, lo, hi });
        if (explicit && !plan.meta) plan.meta = { layer: source.layer, entry: i };
      }
    }
    return plans;
  }

  #node(plan: ChildPlan, linked: LinkedInodes): TreeNode {
    const file = plan.file;
    if (!file) {
      const inode = plan.meta ? inodeOf(this.#entry(plan.meta), plan.meta.layer) : dirInode('implicit');
      return { inode, children: this.#children(plan.sources, plan.prefix, linked) };
    }
    const target = this.#linkOf.get(file.entry) ?? file.entry;
    const names = this.#names.get(target);
    if (names === undefined) return { inode: inodeOf(this.#entry(file), file.layer) };
    let inode = linked.get(target);
    if (!inode) {
      inode = inodeOf(this.#entry({ layer: file.layer, entry: target }), file.layer);
      inode.nlink = names;
      linked.set(target, inode);
    }
    return { inode };
  }
}

/** A bottom-layer whiteout is a no-op, unless it is invalid: then the replay fails. */
function validWhiteout(table: IndexTable, i: number): boolean {
  try {
    parseWhiteout(table.path(i), 'lower stack');
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether every entry of `layer` lands at its literal path on top of `lower`: none lies below a
 * symlink of a lower layer, and no directory it writes or implies is a non-directory below.
 */
function landsLiterally(lower: readonly StackLayer[], layer: StackLayer): boolean {
  for (const low of lower) {
    for (const i of low.order) {
      if (low.table.type(i) !== 'symlink') continue;
      const path = low.table.pathBytes(i);
      const [lo, hi] = below(layer, path, path.length);
      if (lo < hi) return false;
    }
  }
  const checked = new Set<string>();
  for (const i of layer.order) {
    const path = layer.table.pathBytes(i);
    for (let end = path.lastIndexOf(SLASH); end > 0; end = path.lastIndexOf(SLASH, end - 1)) {
      const dir = layer.table.pathText(i, 0, end);
      if (checked.has(dir)) break;
      checked.add(dir);
      if (nonDirectoryBelow(lower, path, end)) return false;
    }
  }
  return true;
}

/** Whether the top-most of `layers` that holds `path` (its first `length` bytes) has a non-directory there. */
function nonDirectoryBelow(layers: readonly StackLayer[], path: Uint8Array, length: number): boolean {
  for (let k = layers.length - 1; k >= 0; k--) {
    const layer = layers[k] as StackLayer;
    const i = find(layer, keyOf(path, length));
    if (i !== undefined) return layer.table.type(i) !== 'directory';
    const [lo, hi] = below(layer, path, length);
    if (lo < hi) return false;
  }
  return false;
}

/**
 * The hardlinks of a one-layer stack: each names an earlier non-directory entry (else the
 * replay fails: undefined). Returns the entry each link shares its inode with, and how many
 * names that inode has.
 */
function hardlinks(layer: StackLayer, links: number[]): { linkOf: Map<number, number>; names: Map<number, number> } | undefined {
  const table = layer.table;
  const linkOf = new Map<number, number>();
  const names = new Map<number, number>();
  // In archive order: a link's target is linked before it.
  for (const i of links.sort((a, b) => a - b)) {
    const t = find(layer, pathKey(table.entry(i).linkname ?? ''));
    if (t === undefined || t >= i || table.type(t) === 'directory') return undefined;
    const inode = linkOf.get(t) ?? t;
    linkOf.set(i, inode);
    names.set(inode, (names.get(inode) ?? 1) + 1);
  }
  return { linkOf, names };
}
