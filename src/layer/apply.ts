/**
 * @module layer/apply
 * Applies one uncompressed layer tar to a directory, safely (design §4): containerd's scoping
 * model, OCI whiteouts, and the metadata umoci restores. This module reads the entries and
 * decides what happens at each path; all extraction safety lives in the `apply-*` modules it
 * drives — `apply-tree` (the per-layer state and primitives) with `scoped-path`, `apply-inodes`
 * (making each kind of entry), `apply-whiteouts`, `apply-meta` (owners, modes, xattrs) and
 * `apply-writes` (files made off the main path, by a task pool and `file-worker`).
 * `spec-notes/layer-apply.md` states the rules and the tests holding each.
 *
 * Per entry: the name (already cleaned by `src/tar`, leading `..` kept) is split into parent
 * and base; the parent is resolved inside the root (`ScopedResolver`: symlinks followed,
 * absolute targets re-rooted, `..` clamped), missing parents are created (0755); the base is
 * never followed. Whatever exists at the path is removed unless both are directories (then
 * they merge and the entry's metadata wins); the last entry for a path wins. Files are created
 * with O_EXCL|O_NOFOLLOW and finished through their descriptor; hardlink targets resolve like
 * names (a link to a symlink links the symlink); nothing is ever chmod-ed, chown-ed or timed
 * through a symlink. An entry that resolves to the root is ignored, except a directory entry
 * for the root itself (`./`), whose metadata is applied to the root as umoci does.
 *
 * Whiteouts (OCI): `.wh.NAME` removes NAME, `.wh..wh..opq` removes every child of its
 * directory, in both cases only what lower layers put there: paths this layer wrote (and their
 * ancestors) stay, whatever the order of the entries (umoci's upper-path rule; the spec's "a
 * whiteout only applies to lower layers"). A whiteout never creates directories. With
 * `whiteouts: 'overlay'` they are written in kernel overlay form instead (for a layer dir that
 * becomes an overlay lowerdir, design §6).
 *
 * Times: files, links and nodes get the entry's mtime (atime = mtime) as they are made;
 * directories get theirs after the whole layer, and a directory of a lower layer whose
 * contents this layer changed keeps the times it had (as after umoci). Owners (as root), modes
 * with setuid/setgid/sticky, xattrs: see `apply-meta`. Not root (`rootless`): owners are not
 * changed and device nodes are skipped with a warning (umoci --rootless); fifos are made.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../errors.js';
import { tarEntries, type TarEntry, type TarItem } from '../tar/index.js';
import { makeDirectory, makeFile, makeHardlink, makeNode, makeSymlink, type InodeContext } from './apply-inodes.js';
import { withContext, type ApplyWarning, type XattrPolicy } from './apply-meta.js';
import { join, LayerTree } from './apply-tree.js';
import { LayerWhiteouts } from './apply-whiteouts.js';
import { WriteQueue } from './apply-writes.js';
import { parseWhiteout, TRUSTED_OVERLAY, type OverlayXattrPrefix } from './whiteout.js';

export type { ApplyWarning } from './apply-meta.js';

export type WhiteoutMode = 'remove' | 'overlay';

export interface ApplyOptions {
  /** Names the layer in errors and warnings ("layer sha256:…"). */
  what: string;
  /** 'remove' (default): whiteouts delete. 'overlay': write 0:0 devices and opaque xattrs. */
  whiteouts?: WhiteoutMode;
  /** Overlay xattr namespace in overlay mode: 'trusted.overlay.' (default) or 'user.overlay.'. */
  overlayXattrPrefix?: OverlayXattrPrefix;
  /** Skip owners and device nodes (default: true unless running as root). */
  rootless?: boolean;
  /**
   * Lower layer directories, top first: a parent directory this layer implies but does not
   * contain is created with the metadata it has in the first of them holding it (containerd's
   * `WithParents`), instead of 0755 root:root.
   */
  parents?: readonly string[];
  /** Called with each warning as it happens (they are also returned, in entry order). */
  onWarning?: (warning: ApplyWarning) => void;
  /** Sees each entry in archive order (e.g. to build a layer index in the same pass). */
  onEntry?: (entry: TarEntry) => void;
}

export interface ApplyResult {
  /** Entries read. */
  entries: number;
  /** Content bytes written (sum of file sizes). */
  bytes: number;
  warnings: ApplyWarning[];
}

/**
 * Applies the uncompressed layer tar `tar` to the directory `root` (which must exist).
 *
 * @throws CairnError 'invalid-archive' for invalid whiteouts, symlink loops, missing hardlink
 *   targets or non-directory parents; system errors keep their `code` and name the entry.
 * @example
 * const { warnings } = await applyLayer('/tmp/rootfs', tarStream, { what: `layer ${digest}` });
 */
export async function applyLayer(root: string, tar: AsyncIterable<Uint8Array>, options: ApplyOptions): Promise<ApplyResult> {
  const applier = new Applier(path.resolve(root), options);
  await applier.start();
  try {
    for await (const item of tarEntries(tar, { what: options.what })) {
      options.onEntry?.(item.entry);
      await applier.entry(item);
    }
    await applier.finish();
  } catch (err) {
    await applier.abandon();
    throw err;
  }
  return applier.result();
}

class Applier {
  readonly #o: ApplyOptions;
  readonly #tree: LayerTree;
  readonly #overlay: OverlayXattrPrefix | undefined;
  readonly #writes: WriteQueue;
  readonly #whiteouts: LayerWhiteouts;
  readonly #inodes: InodeContext;
  /** Warnings with the number of the entry that caused them (file tasks report late). */
  readonly #warnings: { seq: number; warning: ApplyWarning }[] = [];
  #entries = 0;
  #bytes = 0;
  /** The entry being applied, for error messages. */
  #current = '';

  constructor(root: string, options: ApplyOptions) {
    this.#o = options;
    this.#overlay = options.whiteouts === 'overlay' ? (options.overlayXattrPrefix ?? TRUSTED_OVERLAY) : undefined;
    const rootless = options.rootless ?? process.getuid?.() !== 0;
    this.#tree = new LayerTree(root, {
      rootless,
      parents: options.parents ?? [],
      invalid: (m) => this.#invalid(m),
      beforeLookup: (rel) => this.#writes.settle(rel),
    });
    this.#writes = new WriteQueue(options.what, (rel) => this.#tree.abs(rel));
    this.#whiteouts = new LayerWhiteouts(this.#tree, this.#writes);
    const policy: XattrPolicy = { what: options.what, rootless, overlay: this.#overlay, warn: (p, m) => this.#warn(p, m) };
    this.#inodes = {
      tree: this.#tree,
      writes: this.#writes,
      policy,
      whitedOut: (rel) => this.#whiteouts.whitedOut(rel),
      warn: (p, m, seq) => this.#warn(p, m, seq),
      invalid: (m) => this.#invalid(m),
    };
  }

  #warn(entryPath: string, message: string, seq = this.#entries): void {
    const warning = { what: this.#o.what, path: entryPath, message };
    this.#warnings.push({ seq, warning });
    this.#o.onWarning?.(warning);
  }

  #invalid(message: string): CairnError {
    return new CairnError('invalid-archive', `${this.#o.what}: entry "${this.#current}": ${message}`, {
      what: this.#o.what,
      path: this.#current,
    });
  }

  async start(): Promise<void> {
    if (!(await this.#tree.start())) {
      throw new CairnError('not-found', `${this.#o.what}: cannot apply to ${this.#tree.root}: not a directory`, {
        path: this.#tree.root,
      });
    }
  }

  result(): ApplyResult {
    const warnings = [...this.#warnings].sort((a, b) => a.seq - b.seq).map((w) => w.warning);
    return { entries: this.#entries, bytes: this.#bytes, warnings };
  }

  async entry(item: TarItem): Promise<void> {
    const entry = item.entry;
    this.#entries++;
    this.#current = entry.path;
    try {
      await this.#apply(item);
    } catch (err) {
      throw withContext(err, this.#o.what, entry.path);
    }
  }

  async #apply(item: TarItem): Promise<void> {
    const entry = item.entry;
    const tree = this.#tree;
    const writes = this.#writes;
    const ctx = this.#inodes;
    if (entry.path === '.') {
      if (entry.type === 'directory') await makeDirectory(ctx, '', entry, await lstat(tree.root));
      return;
    }
    const whiteout = parseWhiteout(entry.path, this.#o.what);
    if (whiteout) return this.#overlay ? this.#whiteouts.overlay(whiteout, this.#overlay) : this.#whiteouts.remove(whiteout);
    const slash = entry.path.lastIndexOf('/');
    const base = entry.path.slice(slash + 1);
    if (base === '..') return; // only `..` components: resolves to the root, ignored like containerd
    const parent = await tree.resolver.resolve(slash === -1 ? '' : entry.path.slice(0, slash));
    const rel = join(parent, base);
    // A parent the tree does not know yet may be (under) a file still being made: let it land.
    if (!tree.dirs.has(parent)) await writes.drain();
    await tree.ensureDir(parent);
    await tree.touch(parent);
    if (writes.pending(rel) || entry.type === 'hardlink') await writes.drain();
    const existing = await tree.existing(parent, rel);
    if (existing && !(existing.isDirectory() && entry.type === 'directory')) {
      await writes.drain(); // pending files may be under it
      await tree.remove(rel, existing);
    }
    switch (entry.type) {
      case 'directory':
        await makeDirectory(ctx, rel, entry, existing);
        break;
      case 'file':
        await makeFile(ctx, rel, item, this.#entries);
        this.#bytes += entry.size;
        break;
      case 'symlink':
        await makeSymlink(ctx, rel, entry);
        break;
      case 'hardlink':
        await makeHardlink(ctx, rel, entry);
        break;
      default:
        if (!(await makeNode(ctx, rel, entry))) return;
    }
    tree.markUpper(rel);
  }

  /** Waits for the files, then sets directory modes and times (children changed them meanwhile). */
  async finish(): Promise<void> {
    await this.#writes.drain();
    await this.#tree.finishModes();
    await this.#writes.finish(this.#tree.finalTimes());
  }

  /** After a failure: let running file tasks settle (closing their handles), stop the worker. */
  async abandon(): Promise<void> {
    await this.#writes.abandon();
  }
}
