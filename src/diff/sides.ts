/**
 * @module diff/sides
 * The trees `diffTrees` walks:
 * - `DiskSide`: a directory, read with `lstat` (never following symlinks), `readlink` and the
 *   xattr calls of `src/sys`; contents hashed only when `diffTrees` asks. It also records the
 *   names of multiply-linked files, so the new side of a diff can tell the layer writer which
 *   paths share an inode.
 * - `UnionTreeSide` (in `./union-trees.ts`): a merged tree built from layer indexes.
 * - `ViewSide`: a `UnionView` (layers plus an optional upper), through its public API.
 * Sockets have no tar form: they are left out, as the layer walker leaves them out.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../digest/digest.js';
import { hashFile, hashStream } from '../digest/file.js';
import { errnoCode } from '../errors.js';
import { FORBIDDEN_XATTRS } from '../layer/apply-meta.js';
import { typeOfStats } from '../layer/entry-meta.js';
import { splitDev } from '../sys/mknod.js';
import { readXattrs } from '../sys/xattr.js';
import type { UnionStat, UnionView } from '../union/view.js';
import type { EntryMeta, EntryType } from './change.js';
import { sortByName, type SideEntry, type TreeSide } from './tree-diff.js';


/**
 * Extended attributes of `file` itself, host-specific ones left out; {} where the platform or
 * the filesystem has none (and, without root, where reading is refused).
 */
export function diskXattrs(file: string): Record<string, Uint8Array> {
  if (process.platform !== 'linux') return {};
  let all: Record<string, Buffer>;
  try {
    all = readXattrs(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM' || code === 'EACCES') return {};
    throw err;
  }
  const out: Record<string, Uint8Array> = {};
  for (const name of Object.keys(all).sort()) if (!FORBIDDEN_XATTRS.has(name)) out[name] = all[name] as Buffer;
  return out;
}

/** The changeset metadata of an lstat result (plus what `lstat` cannot tell). */
export function metaOfStats(
  st: Stats,
  type: EntryType,
  extra: { linkname?: string; xattrs?: Readonly<Record<string, Uint8Array>> },
): EntryMeta {
  const meta: { -readonly [K in keyof EntryMeta]: EntryMeta[K] } = {
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.trunc(st.mtimeMs),
    size: type === 'file' ? st.size : 0,
  };
  if (type !== 'directory') meta.nlink = st.nlink;
  if (extra.linkname !== undefined) meta.linkname = extra.linkname;
  if (type === 'char' || type === 'block') {
    const { major, minor } = splitDev(st.rdev);
    meta.devmajor = major;
    meta.devminor = minor;
  }
  if (extra.xattrs && Object.keys(extra.xattrs).length > 0) meta.xattrs = extra.xattrs;
  return meta;
}

export interface DiskSideOptions {
  /** Read xattrs (default true). */
  xattrs?: boolean;
}

/** A directory tree on disk. Handles are paths relative to the root. */
export class DiskSide implements TreeSide<string> {
  readonly root = '';
  readonly #dir: string;
  readonly #xattrs: boolean;
  /** dev:ino → relative paths, for files with more than one link. */
  readonly #inodes = new Map<string, string[]>();
  readonly #inodeOf = new Map<string, string>();

  constructor(dir: string, options: DiskSideOptions = {}) {
    this.#dir = path.resolve(dir);
    this.#xattrs = options.xattrs ?? true;
  }

  abs(rel: string): string {
    return rel === '' ? this.#dir : path.join(this.#dir, rel);
  }

  async list(_dir: string, rel: string): Promise<SideEntry<string>[]> {
    const abs = this.abs(rel);
    const names = await readdir(abs);
    const entries = await Promise.all(names.map((name) => this.#entry(rel === '' ? name : `${rel}/${name}`, name)));
    return sortByName(entries.filter((e): e is SideEntry<string> => e !== undefined));
  }

  async #entry(rel: string, name: string): Promise<SideEntry<string> | undefined> {
    const abs = this.abs(rel);
    let st: Stats;
    try {
      st = await lstat(abs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined; // removed while walking
      throw err;
    }
    const type = typeOfStats(st);
    if (type === undefined) return undefined;
    const linkname = type === 'symlink' ? await readlink(abs) : undefined;
    const meta = metaOfStats(st, type, {
      ...(linkname !== undefined ? { linkname } : {}),
      ...(this.#xattrs ? { xattrs: diskXattrs(abs) } : {}),
    });
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      this.#inodeOf.set(rel, key);
      const names = this.#inodes.get(key);
      if (names) names.push(rel);
      else this.#inodes.set(key, [rel]);
    }
    return { name, meta, handle: rel };
  }

  digest(entry: SideEntry<string>): Promise<Digest> {
    return hashFile(this.abs(entry.handle), entry.meta.size);
  }

  /**
   * Every name (absolute, sorted) of the inode at `rel` that this side has listed, when there
   * are several. Complete for the new side of a diff once the diff is done (it lists every
   * entry of the new tree).
   */
  linksOf(rel: string): string[] | undefined {
    const key = this.#inodeOf.get(rel);
    const names = key === undefined ? undefined : this.#inodes.get(key);
    if (!names || names.length < 2) return undefined;
    return names.map((n) => `/${n}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }
}

/** Changeset metadata of a union view's stat. */
export function metaOfUnionStat(stat: UnionStat): EntryMeta {
  const meta: { -readonly [K in keyof EntryMeta]: EntryMeta[K] } = {
    type: stat.type,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    mtime: stat.mtime.getTime(),
    size: stat.type === 'file' ? stat.size : 0,
  };
  if (stat.type !== 'directory') meta.nlink = stat.nlink;
  if (stat.type === 'symlink' && stat.linkname !== undefined) meta.linkname = stat.linkname;
  if (stat.devmajor !== undefined) meta.devmajor = stat.devmajor;
  if (stat.devminor !== undefined) meta.devminor = stat.devminor;
  if (Object.keys(stat.xattrs).length > 0) meta.xattrs = stat.xattrs;
  if (stat.sha256 !== undefined) meta.sha256 = stat.sha256;
  return meta;
}

/** A union view, through `readdirStats`; contents (of upper files) through the view. */
export class ViewSide implements TreeSide<string> {
  readonly root = '';
  readonly #view: UnionView;

  constructor(view: UnionView) {
    this.#view = view;
  }

  list(_dir: string, rel: string): SideEntry<string>[] {
    return this.#view
      .readdirStats(`/${rel}`)
      .map((w) => ({ name: w.name, meta: metaOfUnionStat(w.stat), handle: rel === '' ? w.name : `${rel}/${w.name}` }));
  }

  async digest(entry: SideEntry<string>): Promise<Digest> {
    return hashStream(await this.#view.createReadStream(`/${entry.handle}`));
  }
}
