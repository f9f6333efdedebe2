/**
 * @module layer/apply
 * Applies one uncompressed layer tar to a directory, safely (design §4): containerd's scoping
 * model, OCI whiteouts, and the metadata umoci restores. All extraction safety lives here, in
 * `apply-tree` (the per-layer state and primitives) and in `scoped-path`; small files are made
 * by `file-worker`. `spec-notes/layer-apply.md` states the rules and the tests holding each.
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
import type { Stats } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { mknod } from '../sys/mknod.js';
import { setXattr } from '../sys/xattr.js';
import { tarEntries, type TarEntry, type TarItem } from '../tar/index.js';
import {
  clearOtherXattrs,
  CREATE_FLAGS,
  diskXattrs,
  finishFile,
  seconds,
  TaskPool,
  withContext,
  writeXattrs,
  type ApplyWarning,
  type XattrPolicy,
} from './apply-meta.js';
import { dirname, join, LayerTree, lstatOrUndefined } from './apply-tree.js';
import { FileWorker } from './file-worker.js';
import {
  isOverlayWhiteout,
  ociToOverlay,
  parseWhiteout,
  TRUSTED_OVERLAY,
  type OverlayXattrPrefix,
  type WhiteoutInfo,
} from './whiteout.js';

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

/** File bodies up to this size are read into memory and finished by the task pool. */
const BUFFERED_FILE = 256 * 1024;
const FILE_TASKS = 8;
/** Inodes made through async calls before the file worker is worth its start (~50 ms). */
const WORKER_AFTER = 64;

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
  readonly #rootless: boolean;
  readonly #policy: XattrPolicy;
  readonly #pool = new TaskPool(FILE_TASKS);
  #worker: FileWorker | undefined;
  /** New files, directories and links seen so far: the worker starts after WORKER_AFTER. */
  #newInodes = 0;
  readonly #opaqueDone = new Set<string>();
  /** Overlay mode: whiteout devices this layer made. */
  readonly #whitedOut = new Set<string>();
  /** Warnings with the number of the entry that caused them (file tasks report late). */
  readonly #warnings: { seq: number; warning: ApplyWarning }[] = [];
  #entries = 0;
  #bytes = 0;
  /** The entry being applied, for error messages. */
  #current = '';

  constructor(root: string, options: ApplyOptions) {
    this.#o = options;
    this.#overlay = options.whiteouts === 'overlay' ? (options.overlayXattrPrefix ?? TRUSTED_OVERLAY) : undefined;
    this.#rootless = options.rootless ?? process.getuid?.() !== 0;
    this.#tree = new LayerTree(root, {
      rootless: this.#rootless,
      parents: options.parents ?? [],
      invalid: (m) => this.#invalid(m),
      beforeLookup: (rel) => this.#settle(rel),
    });
    this.#policy = { what: options.what, rootless: this.#rootless, overlay: this.#overlay, warn: (p, m) => this.#warn(p, m) };
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
    if (entry.path === '.') {
      if (entry.type === 'directory') await this.#directory('', entry, await lstat(tree.root));
      return;
    }
    const whiteout = parseWhiteout(entry.path, this.#o.what);
    if (whiteout) return this.#overlay ? this.#overlayWhiteout(whiteout, this.#overlay) : this.#whiteout(whiteout);
    const slash = entry.path.lastIndexOf('/');
    const base = entry.path.slice(slash + 1);
    if (base === '..') return; // only `..` components: resolves to the root, ignored like containerd
    const parent = await tree.resolver.resolve(slash === -1 ? '' : entry.path.slice(0, slash));
    const rel = join(parent, base);
    // A parent the tree does not know yet may be (under) a file still being made: let it land.
    if (!tree.dirs.has(parent)) await this.#drain();
    await tree.ensureDir(parent);
    await tree.touch(parent);
    if (this.#pending(rel) || entry.type === 'hardlink') await this.#drain();
    const existing = await tree.existing(parent, rel);
    if (existing && !(existing.isDirectory() && entry.type === 'directory')) {
      await this.#drain(); // pending files may be under it
      await tree.remove(rel, existing);
    }
    switch (entry.type) {
      case 'directory':
        await this.#directory(rel, entry, existing);
        break;
      case 'file':
        await this.#file(rel, item);
        break;
      case 'symlink':
        await this.#symlink(rel, entry);
        break;
      case 'hardlink':
        await this.#hardlink(rel, entry);
        break;
      default:
        if (!(await this.#node(rel, entry))) return;
    }
    tree.markUpper(rel);
  }

  #xattrs(entry: TarEntry): [string, Uint8Array][] {
    return diskXattrs(entry.path, entry.xattrs, this.#policy);
  }

  async #directory(rel: string, entry: TarEntry, existing: Stats | undefined): Promise<void> {
    const tree = this.#tree;
    const abs = tree.abs(rel);
    const parent = dirname(rel);
    const mode = tree.modeNow(rel, entry.mode);
    const xattrs = this.#xattrs(entry);
    if (existing?.isDirectory()) {
      tree.dirs.add(rel);
      if (!this.#rootless) await lchown(abs, entry.uid, entry.gid);
      await chmod(abs, mode);
      clearOtherXattrs(abs, entry.path, xattrs, this.#policy);
    } else {
      const owner = tree.chownFor(parent, entry.uid, entry.gid);
      const fixMode = tree.needsChmod(parent, mode, true);
      // Xattrs and overlay markers are set here, on a directory that must exist by then.
      const worker = xattrs.length === 0 && !this.#whitedOut.has(rel) ? this.#queue() : undefined;
      if (worker) {
        await worker.add({ kind: 'directory', path: abs, entryPath: entry.path, mode, chmod: fixMode, owner });
      } else {
        await this.#settle(parent);
        await mkdir(abs, mode & 0o777);
        if (owner) await lchown(abs, owner.uid, owner.gid);
        if (fixMode) await chmod(abs, mode);
      }
      tree.dirs.add(rel);
      tree.fresh.add(rel);
    }
    tree.noteDir(rel, entry.mode, entry.gid);
    writeXattrs({ path: abs, regularOrDir: true }, entry.path, xattrs, this.#policy);
    if (this.#overlay && this.#whitedOut.has(rel)) setXattr(abs, `${this.#overlay}opaque`, Buffer.from('y'));
    tree.dirTimes.set(rel, entry.mtime);
  }

  /**
   * Small files are read into memory and made entirely by the task pool (created with
   * O_EXCL|O_NOFOLLOW, finished through the descriptor); big ones are opened and streamed
   * here, then finished by the pool.
   */
  async #file(rel: string, { entry, body, content }: TarItem): Promise<void> {
    const abs = this.#tree.abs(rel);
    const parent = dirname(rel);
    let handle: FileHandle | undefined;
    let chunks: Buffer[] | undefined;
    if (entry.size <= BUFFERED_FILE) {
      chunks = [await content()];
    } else {
      await this.#settle(parent);
      handle = await open(abs, CREATE_FLAGS, entry.mode & 0o777);
      try {
        for await (const chunk of body) {
          const buf = chunk as Buffer;
          let done = 0;
          while (done < buf.length) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
        }
      } catch (err) {
        await handle.close();
        throw err;
      }
    }
    this.#bytes += entry.size;
    const owner = this.#tree.chownFor(parent, entry.uid, entry.gid);
    const chmod = this.#tree.needsChmod(parent, entry.mode, false);
    const xattrs = this.#xattrs(entry);
    const worker = chunks !== undefined && xattrs.length === 0 ? this.#queue() : undefined;
    if (worker && chunks !== undefined) {
      const job = { kind: 'file', path: abs, mode: entry.mode, chmod, owner, mtime: seconds(entry.mtime), entryPath: entry.path } as const;
      await worker.add(job, chunks, entry.size);
      return;
    }
    await this.#settle(parent);
    const data = chunks === undefined ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const finish = { handle, path: abs, entryPath: entry.path, data, owner, mode: entry.mode, chmod, xattrs, mtime: entry.mtime };
    const seq = this.#entries;
    await this.#pool.run(rel, () => finishFile(finish, { ...this.#policy, warn: (p, m) => this.#warn(p, m, seq) }));
  }

  async #symlink(rel: string, entry: TarEntry): Promise<void> {
    const abs = this.#tree.abs(rel);
    const parent = dirname(rel);
    const target = entry.linkname ?? '';
    const owner = this.#tree.chownFor(parent, entry.uid, entry.gid);
    const xattrs = this.#xattrs(entry);
    const mtime = seconds(entry.mtime);
    // Resolutions through `rel` are forgotten now; a new one waits for the link (beforeLookup).
    this.#tree.resolver.changed(rel);
    const worker = xattrs.length === 0 ? this.#queue() : undefined;
    if (worker) {
      await worker.add({ kind: 'symlink', path: abs, entryPath: entry.path, target, owner, mtime });
      return;
    }
    await this.#settle(parent);
    await symlink(target, abs);
    if (owner) await lchown(abs, owner.uid, owner.gid);
    writeXattrs({ path: abs, regularOrDir: false }, entry.path, xattrs, this.#policy);
    await lutimes(abs, mtime, mtime);
  }

  /**
   * Links to what the target names inside the root, not following its last component. Like
   * umoci (unlike containerd) the entry's own metadata is not applied: it would change the
   * shared inode, and through a symlink it could reach outside the root.
   */
  async #hardlink(rel: string, entry: TarEntry): Promise<void> {
    const linkname = entry.linkname ?? '.';
    const slash = linkname.lastIndexOf('/');
    const base = linkname.slice(slash + 1);
    if (linkname === '.' || base === '..') throw this.#invalid(`hardlink to the root directory ("${linkname}")`);
    const target = join(await this.#tree.resolver.resolve(slash === -1 ? '' : linkname.slice(0, slash)), base);
    try {
      await link(this.#tree.abs(target), this.#tree.abs(rel));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') throw this.#invalid(`hardlink target "${linkname}" does not exist`);
      if (code === 'EPERM') throw this.#invalid(`hardlink target "${linkname}" is a directory`);
      throw err;
    }
  }

  /** Device nodes and fifos; false when skipped. */
  async #node(rel: string, entry: TarEntry): Promise<boolean> {
    if (entry.type !== 'fifo' && this.#rootless) {
      this.#warn(entry.path, `${entry.type} device ${entry.devmajor ?? 0}:${entry.devminor ?? 0} skipped (not root)`);
      return false;
    }
    if (this.#overlay && isOverlayWhiteout(entry)) {
      this.#warn(entry.path, 'a 0:0 character device cannot be stored in overlay form (it would be a whiteout); skipped');
      return false;
    }
    const abs = this.#tree.abs(rel);
    const parent = dirname(rel);
    await this.#settle(parent);
    const type = entry.type === 'char' || entry.type === 'block' ? entry.type : 'fifo';
    mknod(abs, type, entry.mode & 0o777, entry.devmajor ?? 0, entry.devminor ?? 0);
    const owner = this.#tree.chownFor(parent, entry.uid, entry.gid);
    if (owner) await lchown(abs, owner.uid, owner.gid);
    if (this.#tree.needsChmod(parent, entry.mode, false)) await chmod(abs, entry.mode); // a node we just made
    writeXattrs({ path: abs, regularOrDir: false }, entry.path, this.#xattrs(entry), this.#policy);
    await lutimes(abs, seconds(entry.mtime), seconds(entry.mtime));
    return true;
  }

  /** OCI whiteouts applied by deleting; a whiteout never creates a parent. */
  async #whiteout(w: WhiteoutInfo): Promise<void> {
    const tree = this.#tree;
    await this.#drain();
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

  /** OCI whiteouts written in kernel overlay form (see `layer/whiteout`). */
  async #overlayWhiteout(w: WhiteoutInfo, prefix: OverlayXattrPrefix): Promise<void> {
    const tree = this.#tree;
    await this.#drain();
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

  /** The file worker, started once the layer has made enough new inodes to pay for it. */
  #queue(): FileWorker | undefined {
    if (this.#worker === undefined && ++this.#newInodes > WORKER_AFTER) this.#worker = new FileWorker(this.#o.what);
    return this.#worker;
  }

  /** Whether something at `rel` may still be in the making (the pool keys by relative path, the worker by absolute). */
  #pending(rel: string): boolean {
    return this.#pool.has(rel) || this.#worker?.has(this.#tree.abs(rel)) === true;
  }

  /** Lets whatever is in the making at `rel` land (before the disk is asked or changed there). */
  async #settle(rel: string): Promise<void> {
    if (this.#pending(rel)) await this.#drain();
  }

  /** Waits until every file in the making is made. */
  async #drain(): Promise<void> {
    await this.#pool.drain();
    await this.#worker?.drain();
  }

  /** Waits for the files, then sets directory times (children changed them meanwhile). */
  async finish(): Promise<void> {
    await this.#drain();
    await this.#tree.finishModes();
    const times = this.#tree.finalTimes();
    const worker = this.#worker;
    if (worker) {
      for (const [abs, atime, mtime] of times) await worker.add({ kind: 'times', path: abs, entryPath: abs, atime, mtime });
      await worker.drain();
      await worker.close();
      this.#worker = undefined;
    } else {
      for (const [abs, atime, mtime] of times) await lutimes(abs, atime, mtime);
    }
  }

  /** After a failure: let running file tasks settle (closing their handles), stop the worker. */
  async abandon(): Promise<void> {
    await this.#pool.drain().catch(() => undefined);
    await this.#worker?.close();
  }
}
