/**
 * @module layer/apply-tree
 * The applier's view of the root while one layer is applied: what this layer wrote, which
 * directories are real, which ones are setgid, the times to restore, and the primitives every
 * entry goes through (make a parent, remove a path, remove what lower layers left). Paths are
 * relative and already resolved by the `ScopedResolver` it owns; `''` is the root.
 *
 * Bookkeeping that saves syscalls, and why it is safe:
 * - `fresh`: directories this layer made; every child that exists in one is in `upper`, so a
 *   path not in `upper` under a fresh parent needs no `lstat` to know it is absent.
 * - `dirs`: paths known to be real directories now; removing a directory forgets it and
 *   everything under it.
 * - owner and mode of a new inode are what creation gives it (euid, egid or a setgid parent's
 *   group; mode minus the umask) unless the entry says otherwise: only then chown/chmod.
 */
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { seconds } from './apply-meta.js';
import { rootPath, ScopedResolver } from './scoped-path.js';

export function join(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

export function dirname(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

export async function lstatOrUndefined(abs: string): Promise<Stats | undefined> {
  try {
    return await lstat(abs);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The umask from /proc/self/status (Linux >= 4.7), without changing it; undefined if unknown. */
async function readUmask(): Promise<number | undefined> {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(await readFile('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1] as string, 8) : undefined;
  } catch {
    return undefined;
  }
}

function dropUnder<T>(set: Set<T> | Map<T, unknown>, rel: string): void {
  for (const p of set.keys()) if (p === rel || (p as string).startsWith(`${rel}/`)) set.delete(p);
}

export interface TreeOptions {
  rootless: boolean;
  /** Lower layer dirs, top first, for the metadata of implied parents. */
  parents: readonly string[];
  /** Makes the error for a broken layer (names the layer and the current entry). */
  invalid: (message: string) => Error;
  /** Lets anything still in the making at `rel` land before the disk is asked about it. */
  beforeLookup: (rel: string) => Promise<void>;
}

export class LayerTree {
  readonly root: string;
  readonly resolver: ScopedResolver;
  /** Paths this layer wrote, and their ancestors. */
  readonly upper = new Set<string>();
  readonly fresh = new Set<string>();
  /**
   * Paths known to be real directories now, reached through real directories only: the only
   * paths later path-based calls (times, modes) may use. Removing a path drops it and all below.
   */
  readonly dirs = new Set<string>(['']);
  /** Directory entries of this layer: their mtimes, set after the whole layer. */
  readonly dirTimes = new Map<string, Date>();
  readonly #o: TreeOptions;
  readonly #setgid = new Map<string, number>();
  readonly #oldTimes = new Map<string, { atime: number; mtime: number }>();
  readonly #touched = new Set<string>();
  /** Rootless: modes of directories kept u+rwx while the layer applies, set at the end. */
  readonly #finalModes = new Map<string, number>();
  #umask: number | undefined;
  readonly #euid = process.geteuid?.() ?? 0;
  readonly #egid = process.getegid?.() ?? 0;

  constructor(root: string, options: TreeOptions) {
    this.root = root;
    this.resolver = new ScopedResolver(root, {
      isKnownDirectory: (rel) => this.dirs.has(rel),
      beforeLookup: options.beforeLookup,
    });
    this.#o = options;
  }

  /** Checks the root; returns false when it is not a directory. */
  async start(): Promise<boolean> {
    const st = await lstatOrUndefined(this.root);
    if (!st?.isDirectory()) return false;
    this.noteDir('', st.mode, st.gid);
    if ((await readdir(this.root)).length === 0) this.fresh.add('');
    this.#umask = await readUmask();
    return true;
  }

  abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  markUpper(rel: string): void {
    for (let p = rel; p !== '' && !this.upper.has(p); p = dirname(p)) this.upper.add(p);
  }

  /** Remembers whether a directory is setgid (new inodes in it take its group). */
  noteDir(rel: string, mode: number, gid: number): void {
    if (mode & 0o2000) this.#setgid.set(rel, gid);
    else this.#setgid.delete(rel);
  }

  /** The owner to set on a new inode in `parent`, or undefined when creation already gave it. */
  chownFor(parent: string, uid: number, gid: number): { uid: number; gid: number } | undefined {
    if (this.#o.rootless) return undefined;
    return uid === this.#euid && gid === (this.#setgid.get(parent) ?? this.#egid) ? undefined : { uid, gid };
  }

  /** Whether a new inode created with `mode & 0o777` needs a chmod to end with `mode`. */
  needsChmod(parent: string, mode: number, isDir: boolean): boolean {
    if (this.#umask === undefined || (mode & 0o7000) !== 0 || (mode & this.#umask) !== 0) return true;
    return isDir && this.#setgid.has(parent); // a new directory inherits the setgid bit
  }

  /**
   * The mode to give directory `rel` now for a final `mode`: without root we could not create
   * or remove children in a directory lacking u+rwx, so it stays open until `finishModes`.
   */
  modeNow(rel: string, mode: number): number {
    if (!this.#o.rootless || (mode & 0o700) === 0o700) {
      this.#finalModes.delete(rel);
      return mode;
    }
    this.#finalModes.set(rel, mode);
    return mode | 0o700;
  }

  /** What exists at `rel` (in `parent`), skipping the lstat when it cannot exist. */
  async existing(parent: string, rel: string): Promise<Stats | undefined> {
    if (this.fresh.has(parent) && !this.upper.has(rel)) return undefined;
    return lstatOrUndefined(this.abs(rel));
  }

  /** Records a lower directory's times before this layer first changes its contents. */
  async touch(rel: string): Promise<void> {
    if (this.#touched.has(rel)) return;
    this.#touched.add(rel);
    if (rel !== '' && this.fresh.has(rel)) return; // made by this layer (an empty root was not)
    const st = await lstatOrUndefined(this.abs(rel));
    if (!st?.isDirectory()) return;
    this.dirs.add(rel);
    this.#oldTimes.set(rel, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
    if (this.#o.rootless && (st.mode & 0o700) !== 0o700 && !this.#finalModes.has(rel)) {
      await chmod(this.abs(rel), this.modeNow(rel, st.mode & 0o7777));
    }
  }

  /** containerd's mkparent: makes `rel` a directory, creating what is missing. */
  async ensureDir(rel: string): Promise<void> {
    if (this.dirs.has(rel)) return;
    const st = await lstatOrUndefined(this.abs(rel));
    if (st) {
      if (!st.isDirectory()) throw this.#o.invalid(`its parent "${rel}" is not a directory`);
      this.dirs.add(rel);
      this.noteDir(rel, st.mode, st.gid);
      return;
    }
    const parent = dirname(rel);
    await this.ensureDir(parent);
    await this.touch(parent);
    const abs = this.abs(rel);
    try {
      await mkdir(abs, 0o755);
    } catch (err) {
      if (errnoCode(err) === 'ENOTDIR') throw this.#o.invalid(`a parent of "${rel}" is not a directory`);
      throw err;
    }
    await this.#inherit(rel, abs);
    this.dirs.add(rel);
    this.fresh.add(rel);
    this.markUpper(rel);
  }

  /** Metadata for an implied directory: from the first lower layer holding it, else 0755. */
  async #inherit(rel: string, abs: string): Promise<void> {
    for (const lower of this.#o.parents) {
      const st = await lstatOrUndefined(await rootPath(lower, rel));
      if (!st) continue;
      if (!st.isDirectory()) break;
      if (!this.#o.rootless) await lchown(abs, st.uid, st.gid);
      await chmod(abs, st.mode & 0o7777);
      this.noteDir(rel, st.mode, st.gid);
      this.dirTimes.set(rel, st.mtime);
      return;
    }
    await chmod(abs, 0o755); // exactly, whatever the umask or a setgid parent
    this.#setgid.delete(rel);
  }

  /** Removes whatever is at `rel` (never following a symlink) and forgets what it knew of it. */
  async remove(rel: string, st: Stats): Promise<void> {
    await rm(this.abs(rel), { recursive: true, force: true });
    this.resolver.changed(rel);
    if (st.isDirectory()) {
      dropUnder(this.dirs, rel);
      dropUnder(this.fresh, rel);
      dropUnder(this.#setgid, rel);
    }
  }

  /** Removes `rel` unless this layer wrote it; then only what lower layers left under it. */
  async removeLower(rel: string, st: Stats): Promise<void> {
    if (!this.upper.has(rel)) {
      await this.remove(rel, st);
      return;
    }
    if (st.isDirectory() && !this.fresh.has(rel)) {
      await this.touch(rel);
      await this.removeLowerChildren(rel);
    }
  }

  async removeLowerChildren(dir: string): Promise<void> {
    if (this.fresh.has(dir)) return; // only this layer's children in there
    for (const name of await readdir(this.abs(dir))) {
      const rel = join(dir, name);
      const st = await lstatOrUndefined(this.abs(rel));
      if (st) await this.removeLower(rel, st);
    }
  }

  /**
   * Sets the modes of directories kept open (rootless) once the layer is done; `finalTimes`
   * then gives the times to set.
   */
  async finishModes(): Promise<void> {
    for (const [rel, mode] of this.#finalModes) if (this.dirs.has(rel)) await chmod(this.abs(rel), mode);
  }

  /**
   * The times to set on directories once the layer is done (children changed them meanwhile),
   * as `[absolute path, atime, mtime]` in seconds: entries' own mtimes, and the old times of
   * lower directories this layer changed.
   */
  finalTimes(): [string, number, number][] {
    // Only paths still in `dirs`: everything under a path this layer removed (and perhaps
    // replaced by a symlink) was dropped from it, and a path-based call on such a stale path
    // would follow that symlink, out of the root with an absolute target.
    const times: [string, number, number][] = [];
    for (const [rel, t] of this.#oldTimes) if (!this.dirTimes.has(rel) && this.dirs.has(rel)) times.push([this.abs(rel), t.atime, t.mtime]);
    for (const [rel, mtime] of this.dirTimes) if (this.dirs.has(rel)) times.push([this.abs(rel), seconds(mtime), seconds(mtime)]);
    return times;
  }
}
