/**
 * @module layer/apply
 * Applies one uncompressed layer tar to a directory, safely (design §4): containerd's scoping
 * model, OCI whiteouts, and the metadata umoci restores. All extraction safety lives here and
 * in `scoped-path`; `spec-notes/layer-apply.md` states the rules and the tests holding each.
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
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Stats } from 'node:fs';
import { CairnError, errnoCode } from '../errors.js';
import { mknod } from '../sys/mknod.js';
import { listXattrs, removeXattr, setXattr } from '../sys/xattr.js';
import { tarEntries, type TarEntry } from '../tar/index.js';
import {
  diskXattrs,
  finishFile,
  FORBIDDEN_XATTRS,
  seconds,
  TaskPool,
  withContext,
  writeXattrs,
  type ApplyWarning,
  type XattrPolicy,
} from './apply-meta.js';
import { ScopedResolver, rootPath } from './scoped-path.js';
import { isOverlayWhiteout, parseWhiteout, TRUSTED_OVERLAY, type OverlayXattrPrefix, type WhiteoutInfo } from './whiteout.js';

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
  /** Called with each warning as it happens (they are also returned). */
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

/** File bodies up to this size are read into memory and written by the task pool. */
const BUFFERED_FILE = 256 * 1024;
const FILE_TASKS = 8;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

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
    for await (const { entry, body } of tarEntries(tar, { what: options.what })) {
      options.onEntry?.(entry);
      await applier.entry(entry, body);
    }
  } catch (err) {
    await applier.abandon();
    throw err;
  }
  await applier.finish();
  return applier.result();
}

function join(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

function dirname(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

async function lstatOrUndefined(abs: string): Promise<Stats | undefined> {
  try {
    return await lstat(abs);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

class Applier {
  readonly #root: string;
  readonly #o: ApplyOptions;
  readonly #overlay: OverlayXattrPrefix | undefined;
  readonly #rootless: boolean;
  readonly #policy: XattrPolicy;
  readonly #resolver: ScopedResolver;
  readonly #pool = new TaskPool(FILE_TASKS);
  /** Paths this layer wrote, and their ancestors (relative, resolved). */
  readonly #upper = new Set<string>();
  /** Directories this layer created: each child that exists is in #upper. */
  readonly #fresh = new Set<string>();
  /** Paths known to be real directories now. */
  readonly #dirs = new Set<string>(['']);
  readonly #dirTimes = new Map<string, Date>();
  readonly #oldTimes = new Map<string, { atime: number; mtime: number }>();
  readonly #touched = new Set<string>();
  readonly #opaqueDone = new Set<string>();
  /** Overlay mode: whiteout devices this layer made. */
  readonly #whitedOut = new Set<string>();
  readonly #warnings: ApplyWarning[] = [];
  #entries = 0;
  #bytes = 0;
  /** The entry being applied, for error messages. */
  #current = '';

  constructor(root: string, options: ApplyOptions) {
    this.#root = root;
    this.#o = options;
    this.#overlay = options.whiteouts === 'overlay' ? (options.overlayXattrPrefix ?? TRUSTED_OVERLAY) : undefined;
    this.#rootless = options.rootless ?? process.getuid?.() !== 0;
    this.#resolver = new ScopedResolver(root);
    this.#policy = {
      what: options.what,
      rootless: this.#rootless,
      overlay: this.#overlay,
      warn: (p, message) => this.#warn(p, message),
    };
  }

  #abs(rel: string): string {
    return rel === '' ? this.#root : path.join(this.#root, rel);
  }

  #warn(entryPath: string, message: string): void {
    const warning = { what: this.#o.what, path: entryPath, message };
    this.#warnings.push(warning);
    this.#o.onWarning?.(warning);
  }

  #invalid(message: string): CairnError {
    return new CairnError('invalid-archive', `${this.#o.what}: entry "${this.#current}": ${message}`, {
      what: this.#o.what,
      path: this.#current,
    });
  }

  async start(): Promise<void> {
    const st = await lstatOrUndefined(this.#root);
    if (!st?.isDirectory()) {
      throw new CairnError('not-found', `${this.#o.what}: cannot apply to ${this.#root}: not a directory`, { path: this.#root });
    }
    if ((await readdir(this.#root)).length === 0) this.#fresh.add('');
  }

  result(): ApplyResult {
    return { entries: this.#entries, bytes: this.#bytes, warnings: this.#warnings };
  }

  async entry(entry: TarEntry, body: Readable): Promise<void> {
    this.#entries++;
    this.#current = entry.path;
    try {
      await this.#apply(entry, body);
    } catch (err) {
      throw withContext(err, this.#o.what, entry.path);
    }
  }

  async #apply(entry: TarEntry, body: Readable): Promise<void> {
    if (entry.path === '.') {
      if (entry.type === 'directory') await this.#directory('', entry, await lstat(this.#root));
      return;
    }
    const whiteout = parseWhiteout(entry.path, this.#o.what);
    if (whiteout) return this.#overlay ? this.#overlayWhiteout(whiteout) : this.#whiteout(whiteout);
    const slash = entry.path.lastIndexOf('/');
    const base = entry.path.slice(slash + 1);
    if (base === '..') return; // only `..` components: resolves to the root, ignored like containerd
    const parent = await this.#resolver.resolve(slash === -1 ? '' : entry.path.slice(0, slash));
    const rel = join(parent, base);
    await this.#ensureDir(parent);
    await this.#touch(parent);
    const existing = this.#fresh.has(parent) && !this.#upper.has(rel) ? undefined : await lstatOrUndefined(this.#abs(rel));
    if (existing && !(existing.isDirectory() && entry.type === 'directory')) await this.#remove(rel, existing);
    switch (entry.type) {
      case 'directory':
        await this.#directory(rel, entry, existing);
        break;
      case 'file':
        await this.#file(rel, entry, body);
        break;
      case 'symlink':
        await this.#symlink(rel, entry);
        break;
      case 'hardlink':
        await this.#hardlink(rel, entry);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        if (!(await this.#node(rel, entry))) return;
        break;
    }
    this.#markUpper(rel);
  }

  #markUpper(rel: string): void {
    for (let p = rel; p !== '' && !this.#upper.has(p); p = dirname(p)) this.#upper.add(p);
  }

  #owner(entry: TarEntry): { uid: number; gid: number } | undefined {
    return this.#rootless ? undefined : { uid: entry.uid, gid: entry.gid };
  }

  /** Records a pre-existing directory's times before this layer first changes its contents. */
  async #touch(rel: string): Promise<void> {
    if (this.#touched.has(rel)) return;
    this.#touched.add(rel);
    if (this.#fresh.has(rel)) return;
    const st = await lstatOrUndefined(this.#abs(rel));
    if (st?.isDirectory()) this.#oldTimes.set(rel, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
  }

  /** containerd's mkparent: makes `rel` (resolved) a directory, creating what is missing. */
  async #ensureDir(rel: string): Promise<void> {
    if (this.#dirs.has(rel)) return;
    const st = await lstatOrUndefined(this.#abs(rel));
    if (st) {
      if (!st.isDirectory()) throw this.#invalid(`its parent "${rel}" is not a directory`);
      this.#dirs.add(rel);
      return;
    }
    const parent = dirname(rel);
    await this.#ensureDir(parent);
    await this.#touch(parent);
    const abs = this.#abs(rel);
    try {
      await mkdir(abs, 0o755);
    } catch (err) {
      if (errnoCode(err) === 'ENOTDIR') throw this.#invalid(`a parent of "${rel}" is not a directory`);
      throw err;
    }
    await this.#inheritParent(rel, abs);
    this.#dirs.add(rel);
    this.#fresh.add(rel);
    this.#markUpper(rel);
  }

  /** Metadata for an implied directory: from the first lower layer holding it, else 0755. */
  async #inheritParent(rel: string, abs: string): Promise<void> {
    for (const lower of this.#o.parents ?? []) {
      const st = await lstatOrUndefined(await rootPath(lower, rel));
      if (!st) continue;
      if (!st.isDirectory()) break;
      if (!this.#rootless) await lchown(abs, st.uid, st.gid);
      await chmod(abs, st.mode & 0o7777);
      this.#dirTimes.set(rel, st.mtime);
      return;
    }
    await chmod(abs, 0o755); // exactly, whatever the umask
  }

  async #remove(rel: string, st: Stats): Promise<void> {
    await rm(this.#abs(rel), { recursive: true, force: true });
    this.#resolver.changed(rel);
    if (st.isDirectory()) {
      for (const set of [this.#dirs, this.#fresh]) {
        for (const p of set) if (p === rel || p.startsWith(`${rel}/`)) set.delete(p);
      }
    }
  }

  async #directory(rel: string, entry: TarEntry, existing: Stats | undefined): Promise<void> {
    const abs = this.#abs(rel);
    const merging = existing?.isDirectory() === true;
    if (!merging) {
      await mkdir(abs, 0o700);
      this.#dirs.add(rel);
      this.#fresh.add(rel);
    }
    const owner = this.#owner(entry);
    if (owner) await lchown(abs, owner.uid, owner.gid);
    await chmod(abs, entry.mode);
    if (merging) this.#clearXattrs(abs, entry);
    writeXattrs({ path: abs, regularOrDir: true }, entry.path, diskXattrs(entry.path, entry.xattrs, this.#policy), this.#policy);
    if (this.#overlay && this.#whitedOut.has(rel)) setXattr(abs, `${this.#overlay}opaque`, Buffer.from('y'));
    this.#dirTimes.set(rel, entry.mtime);
  }

  /** A merged directory ends with the entry's xattrs only (as umoci; overlay's own are kept). */
  #clearXattrs(abs: string, entry: TarEntry): void {
    let names: string[];
    try {
      names = listXattrs(abs);
    } catch (err) {
      if (errnoCode(err) === 'ENOTSUP') return;
      throw err;
    }
    const keep = new Set(diskXattrs(entry.path, entry.xattrs, { ...this.#policy, warn: () => undefined }).map(([n]) => n));
    for (const name of names) {
      if (keep.has(name) || FORBIDDEN_XATTRS.has(name)) continue;
      if (this.#overlay && name.startsWith(this.#overlay) && !name.startsWith(`${this.#overlay}overlay.`)) continue;
      try {
        removeXattr(abs, name);
      } catch (err) {
        const code = errnoCode(err);
        if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw err;
        this.#warn(entry.path, `xattr ${name} of the lower directory could not be removed (${code})`);
      }
    }
  }

  async #file(rel: string, entry: TarEntry, body: Readable): Promise<void> {
    const abs = this.#abs(rel);
    const handle: FileHandle = await open(abs, CREATE_FLAGS, 0o600);
    let data: Buffer | undefined;
    try {
      if (entry.size <= BUFFERED_FILE) {
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(chunk as Buffer);
        data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      } else {
        for await (const chunk of body) {
          const buf = chunk as Buffer;
          let done = 0;
          while (done < buf.length) done += (await handle.write(buf, done, buf.length - done)).bytesWritten;
        }
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.#bytes += entry.size;
    const xattrs = diskXattrs(entry.path, entry.xattrs, this.#policy);
    const finish = { handle, path: abs, entryPath: entry.path, data, owner: this.#owner(entry), mode: entry.mode, xattrs, mtime: entry.mtime };
    await this.#pool.run(() => finishFile(finish, this.#policy));
  }

  async #symlink(rel: string, entry: TarEntry): Promise<void> {
    const abs = this.#abs(rel);
    await symlink(entry.linkname ?? '', abs);
    this.#resolver.changed(rel);
    const owner = this.#owner(entry);
    if (owner) await lchown(abs, owner.uid, owner.gid);
    writeXattrs({ path: abs, regularOrDir: false }, entry.path, diskXattrs(entry.path, entry.xattrs, this.#policy), this.#policy);
    await lutimes(abs, entry.mtime, entry.mtime);
  }

  /** Links to what the target names inside the root, not following its last component. */
  async #hardlink(rel: string, entry: TarEntry): Promise<void> {
    const linkname = entry.linkname ?? '.';
    const slash = linkname.lastIndexOf('/');
    const base = linkname.slice(slash + 1);
    if (linkname === '.' || base === '..') throw this.#invalid(`hardlink to the root directory ("${linkname}")`);
    const target = join(await this.#resolver.resolve(slash === -1 ? '' : linkname.slice(0, slash)), base);
    try {
      await link(this.#abs(target), this.#abs(rel));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') throw this.#invalid(`hardlink target "${linkname}" does not exist`);
      if (code === 'EPERM') throw this.#invalid(`hardlink target "${linkname}" is a directory`);
      throw err;
    }
    // Like umoci (and unlike containerd), a hardlink entry's own metadata is not applied: it would
    // change the shared inode, and through a symlink target it could reach outside the root.
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
    const abs = this.#abs(rel);
    const type = entry.type === 'char' || entry.type === 'block' ? entry.type : 'fifo';
    mknod(abs, type, 0o600, entry.devmajor ?? 0, entry.devminor ?? 0);
    const owner = this.#owner(entry);
    if (owner) await lchown(abs, owner.uid, owner.gid);
    await chmod(abs, entry.mode); // a node we just made, not a symlink
    writeXattrs({ path: abs, regularOrDir: false }, entry.path, diskXattrs(entry.path, entry.xattrs, this.#policy), this.#policy);
    await lutimes(abs, entry.mtime, entry.mtime);
    return true;
  }

  async #whiteout(w: WhiteoutInfo): Promise<void> {
    const parent = await this.#resolver.resolve(w.dir);
    if (w.kind === 'opaque') {
      if (this.#opaqueDone.has(parent)) return;
      this.#opaqueDone.add(parent);
      const st = await lstatOrUndefined(this.#abs(parent));
      if (!st?.isDirectory()) return;
      await this.#touch(parent);
      await this.#removeLowerChildren(parent);
      return;
    }
    const rel = join(parent, w.name);
    const st = await lstatOrUndefined(this.#abs(rel));
    if (!st) return;
    await this.#touch(parent);
    await this.#removeLower(rel, st);
  }

  /** Removes `rel` unless this layer wrote it; then only what lower layers left under it. */
  async #removeLower(rel: string, st: Stats): Promise<void> {
    if (!this.#upper.has(rel)) {
      await this.#remove(rel, st);
      return;
    }
    if (st.isDirectory() && !this.#fresh.has(rel)) {
      await this.#touch(rel);
      await this.#removeLowerChildren(rel);
    }
  }

  async #removeLowerChildren(dir: string): Promise<void> {
    if (this.#fresh.has(dir)) return; // only this layer's children in there
    for (const name of await readdir(this.#abs(dir))) {
      const rel = join(dir, name);
      const st = await lstatOrUndefined(this.#abs(rel));
      if (st) await this.#removeLower(rel, st);
    }
  }

  async #overlayWhiteout(w: WhiteoutInfo): Promise<void> {
    const prefix = this.#overlay as OverlayXattrPrefix;
    const parent = await this.#resolver.resolve(w.dir);
    await this.#ensureDir(parent);
    if (w.kind === 'opaque') {
      setXattr(this.#abs(parent), `${prefix}opaque`, Buffer.from('y'));
      this.#markUpper(parent);
      return;
    }
    const rel = join(parent, w.name);
    const abs = this.#abs(rel);
    if (this.#upper.has(rel)) {
      // This layer also wrote the path: a directory of ours replaces the lower one wholesale.
      const st = await lstatOrUndefined(abs);
      if (st?.isDirectory()) setXattr(abs, `${prefix}opaque`, Buffer.from('y'));
      return;
    }
    await this.#touch(parent);
    const existing = await lstatOrUndefined(abs);
    if (existing) await this.#remove(rel, existing);
    mknod(abs, 'char', 0, 0, 0);
    this.#whitedOut.add(rel);
    this.#markUpper(rel);
  }

  /** Waits for the file tasks, then sets directory times (children first changed them). */
  async finish(): Promise<void> {
    await this.#pool.drain();
    const times: [string, number, number][] = [];
    for (const [rel, t] of this.#oldTimes) if (!this.#dirTimes.has(rel)) times.push([rel, t.atime, t.mtime]);
    for (const [rel, mtime] of this.#dirTimes) times.push([rel, seconds(mtime), seconds(mtime)]);
    for (const [rel, atime, mtime] of times) {
      const abs = this.#abs(rel);
      const st = await lstatOrUndefined(abs);
      if (st?.isDirectory()) await lutimes(abs, atime, mtime);
    }
  }

  /** After a failure: let running file tasks settle (closing their handles). */
  async abandon(): Promise<void> {
    await this.#pool.drain().catch(() => undefined);
  }
}
