/**
 * @module layer/apply-whiteouts
 * The whiteout entries of one layer being applied (OCI layer spec): `.wh.NAME` and
 * `.wh..wh..opq` either delete what lower layers put there (`remove`) or are written in kernel
 * overlay form for a layer dir that becomes an overlay lowerdir (`overlay`, design §6). Both
 * resolve the parent like any name (layer/apply-tree) and never create anything the layer did
 * not name; what this layer wrote itself stays, whatever the order of the entries.
 */
import { mknod } from '../sys/mknod.js';
import { setXattr } from '../sys/xattr.js';
import { join, lstatOrUndefined, type LayerTree } from './apply-tree.js';
import type { WriteQueue } from './apply-writes.js';
import { ociToOverlay, type OverlayXattrPrefix, type WhiteoutInfo } from './whiteout.js';

export class LayerWhiteouts {
  readonly #tree: LayerTree;
  readonly #writes: WriteQueue;
  readonly #opaqueDone = new Set<string>();
  /** Overlay mode: whiteout devices this layer made. */
  readonly #whitedOut = new Set<string>();

  constructor(tree: LayerTree, writes: WriteQueue) {
    this.#tree = tree;
    this.#writes = writes;
  }

  /** Overlay mode: whether this layer made a whiteout device at `rel` (a directory made there then is opaque). */
  whitedOut(rel: string): boolean {
    return this.#whitedOut.has(rel);
  }

  /** Applies an OCI whiteout by deleting; a whiteout never creates a parent. */
  async remove(w: WhiteoutInfo): Promise<void> {
    const tree = this.#tree;
    await this.#writes.drain();
    const parent = await tree.resolver.resolve(w.dir);
    if (w.kind === 'opaque') {
      if (this.#opaqueDone.has(parent)) return;
      this.#opaqueDone.add(parent);
      if (!(await lstatOrUndefined(tree.abs(parent)))?.isDirectory()) return;
      await tree.touch(parent);
      await tree.removeLowerChildren(parent);
      return;
    }
    const rel = join(parent, w.name);
    const st = await lstatOrUndefined(tree.abs(rel));
    if (!st) return;
    await tree.touch(parent);
    await tree.removeLower(rel, st);
  }

  /** Writes an OCI whiteout in kernel overlay form (see `layer/whiteout`). */
  async overlay(w: WhiteoutInfo, prefix: OverlayXattrPrefix): Promise<void> {
    const tree = this.#tree;
    await this.#writes.drain();
    const parent = await tree.resolver.resolve(w.dir);
    await tree.ensureDir(parent);
    const action = ociToOverlay({ ...w, dir: parent }, prefix);
    if (action.kind === 'set-opaque') {
      setXattr(tree.abs(parent), action.xattr, action.value);
      tree.markUpper(parent);
      return;
    }
    const rel = action.path;
    const abs = tree.abs(rel);
    if (tree.upper.has(rel)) {
      // This layer also wrote the path: a directory of ours replaces the lower one wholesale.
      if ((await lstatOrUndefined(abs))?.isDirectory()) setXattr(abs, `${prefix}opaque`, Buffer.from('y'));
      return;
    }
    await tree.touch(parent);
    const existing = await lstatOrUndefined(abs);
    if (existing) await tree.remove(rel, existing);
    mknod(abs, 'char', 0, 0, 0);
    this.#whitedOut.add(rel);
    tree.markUpper(rel);
  }
}
