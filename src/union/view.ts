/**
 * @module union/view
 * `UnionView` (design §5): the merged filesystem of an image's layers (+ an optional writable
 * upper), answered from layer indexes without unpacking anything. `stat`/`lstat`/`readdir`/
 * `readlink`/`walk` are in-memory lookups on the merged tree (`./merge.ts`); `readFile` and
 * `createReadStream` read the content from the topmost layer holding it: a pread of a plain
 * blob, or the layer's seekable cache (`src/layer/random-access.ts`), or the upper's file.
 * Contents are checked against the sha256 in the layer index: a damaged blob or cache fails
 * with 'digest-mismatch' instead of returning wrong bytes.
 *
 * Paths are resolved inside the view's root like the applier resolves them (`tree.resolve`):
 * absolute symlinks are re-rooted and `..` stops at the root. A view is a snapshot: the upper
 * is read once, when the view is built.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createHash } from '../sys/crypto.js';
import type { Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import type { LayerIndex } from '../layer/layer-index.js';
import type { ImageManifest } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { imageLayers, indexLayers, type LayerRef } from '../layer/index-store.js';
import { LayerContent } from '../layer/random-access.js';
import { mergeLayer, mergeUpper } from './merge.js';
import { newRoot, pathError, resolve, sortedChildren, type NodeType, type Origin, type TreeNode } from './tree.js';
import type { UpperEntry, UpperLayer } from './upper.js';

/** What `stat`/`lstat`/`walk` report about a path. */
export interface UnionStat {
  readonly type: NodeType;
  /** Permission bits including setuid/setgid/sticky. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  /** Content bytes of a file, the target's byte length for a symlink (as lstat), 0 otherwise. */
  readonly size: number;
  /** Paths naming the same inode (files, symlinks and devices); 1 for directories. */
  readonly nlink: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs: Readonly<Record<string, Uint8Array>>;
  /** Content digest of a file from a layer (upper files have none). */
  readonly sha256?: Digest;
  /** The layer (index, bottom = 0) that supplied it, 'upper', or 'implicit' for a directory
   *  that only exists because an entry below it needed a parent. */
  readonly origin: Origin;
}

/** Random access to one layer's uncompressed tar (`LayerContent` implements it). */
export interface LayerContentSource {
  read(offset: number, length: number): Promise<Buffer>;
  stream(offset: number, length: number): Readable;
}

export interface UnionLayer {
  readonly index: LayerIndex;
  /** Needed only to read file contents. */
  readonly content?: LayerContentSource;
}

export interface UnionViewOptions {
  /** A writable layer on top (overlay form). */
  upper?: UpperLayer;
  /** Check file contents against the index's sha256 (default true). */
  verify?: boolean;
}

export interface OpenUnionViewOptions extends UnionViewOptions {
  /** Write seekable content caches while indexing layers that have no index yet (for callers
   *  about to read contents: one decompression pass instead of two). */
  seekable?: boolean;
  /** Counts decompressed bytes (tests). */
  onDecompress?: (bytes: number) => void;
}

export interface DirEntry {
  /** The name within its directory. */
  readonly name: string;
  readonly stat: UnionStat;
}

export interface WalkEntry {
  /** Relative to the view's root, no leading slash. */
  readonly path: string;
  readonly stat: UnionStat;
}

export class UnionView {
  readonly #root: TreeNode;
  readonly #layers: readonly UnionLayer[];
  readonly #upper: UpperLayer | undefined;
  readonly #verify: boolean;

  private constructor(root: TreeNode, layers: readonly UnionLayer[], options: UnionViewOptions) {
    this.#root = root;
    this.#layers = layers;
    this.#upper = options.upper;
    this.#verify = options.verify ?? true;
  }

  /**
   * The view of an image (its layers from the manifest and config) or of a list of layers
   * (bottom first), from the store. Missing layer indexes are built (one pass per layer) and saved.
   *
   * @example
   * const view = await UnionView.open(store, await resolveImage(store, 'busybox:3'));
   * const passwd = await view.readFile('/etc/passwd');
   */
  static async open(
    store: Store,
    source: { readonly manifest: ImageManifest } | readonly LayerRef[],
    options: OpenUnionViewOptions = {},
  ): Promise<UnionView> {
    const refs = isLayerList(source) ? source : await imageLayers(store, source);
    const indexed = await indexLayers(store, refs, {
      ...(options.seekable !== undefined ? { seekable: options.seekable } : {}),
      ...(options.onDecompress ? { onDecompress: options.onDecompress } : {}),
    });
    const access = options.onDecompress ? { onDecompress: options.onDecompress } : {};
    const layers = indexed.map((l) => ({ index: l.index, content: new LayerContent(store, l.blob, access) }));
    return UnionView.fromLayers(layers, options);
  }

  /** A view over layers already in hand (no store needed; contents only where given). */
  static async fromLayers(layers: readonly UnionLayer[], options: UnionViewOptions = {}): Promise<UnionView> {
    const root = newRoot();
    layers.forEach((layer, i) => mergeLayer(root, layer.index, i));
    if (options.upper) {
      const entries: UpperEntry[] = [];
      for await (const entry of options.upper.entries()) entries.push(entry);
      mergeUpper(root, entries);
    }
    return new UnionView(root, layers, options);
  }

  /** Follows symlinks, the last component included. */
  stat(path: string): UnionStat {
    return statOf(this.#find(path, true));
  }

  /** Does not follow a symlink in the last component. */
  lstat(path: string): UnionStat {
    return statOf(this.#find(path, false));
  }

  /** Whether `path` exists (following symlinks unless `follow` is false). */
  exists(path: string, follow = true): boolean {
    try {
      this.#find(path, follow);
      return true;
    } catch (err) {
      if (err instanceof CairnError && (err.data.errno === 'ENOENT' || err.data.errno === 'ENOTDIR')) return false;
      throw err;
    }
  }

  /** The path with every symlink resolved, relative to the root (`''` is the root). */
  realpath(path: string): string {
    this.#find(path, true);
    return this.#resolvedParts(path).join('/');
  }

  /** Names in a directory, in byte order. */
  readdir(path: string): string[] {
    return sortedChildren(this.#dir(path)).map(([name]) => name);
  }

  /** Names and stats in a directory, in byte order. */
  readdirStats(path: string): DirEntry[] {
    return sortedChildren(this.#dir(path)).map(([name, node]) => ({ name, stat: statOf(node) }));
  }

  readlink(path: string): string {
    const node = this.#find(path, false);
    if (node.inode.type !== 'symlink') throw pathError('EINVAL', path, 'not a symbolic link');
    return node.inode.linkname ?? '';
  }

  /**
   * Every path under `path` (default: the root), depth first, each directory's children in
   * byte order: the order of `sortEntries`. Symlinks are reported, not followed.
   */
  *walk(path = '/'): Generator<WalkEntry> {
    const start = this.#dir(path);
    const prefix = this.#resolvedParts(path).join('/');
    const stack: [string, TreeNode][] = sortedChildren(start)
      .reverse()
      .map(([name, node]) => [prefix === '' ? name : `${prefix}/${name}`, node]);
    while (stack.length > 0) {
      const [p, node] = stack.pop() as [string, TreeNode];
      yield { path: p, stat: statOf(node) };
      if (node.children) {
        for (const [name, child] of sortedChildren(node).reverse()) stack.push([`${p}/${name}`, child]);
      }
    }
  }

  /** A file's content (following symlinks), checked against the index. */
  async readFile(path: string): Promise<Buffer> {
    const { inode } = this.#file(path);
    const content = inode.content;
    if (!content || inode.size === 0) return Buffer.alloc(0);
    if (content.kind === 'upper') {
      const parts: Buffer[] = [];
      for await (const chunk of await this.#openUpper(content.path)) parts.push(chunk as Buffer);
      return Buffer.concat(parts);
    }
    const bytes = await this.#source(content.layer, path).read(content.offset, content.size);
    if (this.#verify) {
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (actual !== content.sha256) throw mismatch(path, content.sha256, actual);
    }
    return bytes;
  }

  /** A file's content as a stream (large files are never held whole); verified at its end. */
  async createReadStream(path: string): Promise<Readable> {
    const { inode } = this.#file(path);
    const content = inode.content;
    if (!content || inode.size === 0) return Readable.from([]);
    if (content.kind === 'upper') return this.#openUpper(content.path);
    const stream = this.#source(content.layer, path).stream(content.offset, content.size);
    if (!this.#verify) return stream;
    const hash = createHash('sha256');
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush(cb: TransformCallback) {
        const actual = `sha256:${hash.digest('hex')}`;
        cb(actual === content.sha256 ? null : mismatch(path, content.sha256, actual));
      },
    });
    stream.on('error', (err) => check.destroy(err));
    return stream.pipe(check);
  }

  #openUpper(upperPath: string): Promise<Readable> {
    if (!this.#upper) throw new CairnError('not-found', `${upperPath}: no upper layer`, { path: upperPath });
    return this.#upper.open(upperPath);
  }

  #source(layer: number, path: string): LayerContentSource {
    const source = this.#layers[layer]?.content;
    if (!source) throw new CairnError('unsupported', `${path}: this view has no content for layer ${layer}`, { path, layer });
    return source;
  }

  #resolvedParts(path: string): string[] {
    return resolve(this.#root, path, true).parts;
  }

  #find(path: string, follow: boolean): TreeNode {
    const { node } = resolve(this.#root, path, follow);
    if (!node) throw pathError('ENOENT', path, 'no such file or directory');
    return node;
  }

  #dir(path: string): TreeNode {
    const node = this.#find(path, true);
    if (!node.children) throw pathError('ENOTDIR', path, 'not a directory');
    return node;
  }

  #file(path: string): TreeNode {
    const node = this.#find(path, true);
    if (node.children) throw pathError('EISDIR', path, 'is a directory');
    if (node.inode.type !== 'file') throw pathError('EINVAL', path, `is a ${node.inode.type}, not a regular file`);
    return node;
  }
}

function isLayerList(source: { readonly manifest: ImageManifest } | readonly LayerRef[]): source is readonly LayerRef[] {
  return Array.isArray(source);
}

function statOf(node: TreeNode): UnionStat {
  const i = node.inode;
  const stat: { -readonly [K in keyof UnionStat]: UnionStat[K] } = {
    type: i.type,
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    mtime: new Date(i.mtime),
    size: i.type === 'symlink' ? Buffer.byteLength(i.linkname ?? '') : i.size,
    nlink: node.children ? 1 : i.nlink,
    xattrs: i.xattrs ?? {},
    origin: i.origin,
  };
  if (i.linkname !== undefined) stat.linkname = i.linkname;
  if (i.devmajor !== undefined) stat.devmajor = i.devmajor;
  if (i.devminor !== undefined) stat.devminor = i.devminor;
  if (i.content?.kind === 'layer') stat.sha256 = i.content.sha256;
  return stat;
}

function mismatch(path: string, expected: Digest, actual: string): CairnError {
  return new CairnError('digest-mismatch', `${path}: content hashes to ${actual}, the layer index says ${expected}`, {
    path,
    expected,
    actual,
  });
}
