/**
 * @module layer/walk
 * Walks a directory tree as layer entries, in cairn's deterministic order (`comparePaths`: the
 * root `.` first, then depth-first with names in byte order, a directory right before its
 * children), so packing the walk gives the same tar for the same tree on every run.
 *
 * Each entry carries what a layer records: type, permission bits, numeric owner, mtime, size,
 * symlink target, device numbers and xattrs (host-specific ones, `security.selinux` and
 * `system.nfs4_acl`, left out). A file with several links is reported in full the first time
 * and as a hardlink to that first path afterwards. Sockets are skipped (no tar form).
 *
 * Used by `exportRootfs` and, through `overlayToOci`, by diff writers reading an overlay upper.
 * Memory stays flat: one directory listing per level of the current path.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { splitDev } from '../sys/mknod.js';
import { readXattrs } from '../sys/xattr.js';
import type { TarEntryInit } from '../tar/index.js';
import { FORBIDDEN_XATTRS } from './apply-meta.js';

export interface WalkedEntry {
  /** The entry, path relative to the root (`.` for the root itself). */
  entry: TarEntryInit & { xattrs: Record<string, Uint8Array> };
  /** For a `file` entry: the absolute path to read its content from. */
  source?: string;
}

export interface WalkOptions {
  /** Read xattrs (default true). */
  xattrs?: boolean;
  /** Report later links of a multiply-linked file as hardlinks (default true). */
  hardlinks?: boolean;
  /** Include the root directory itself as `.` (default true). */
  root?: boolean;
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function xattrsOf(abs: string, enabled: boolean): Record<string, Uint8Array> {
  if (!enabled) return {};
  let all: Record<string, Buffer>;
  try {
    all = readXattrs(abs);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EPERM' || code === 'EACCES') return {};
    throw err;
  }
  const out: Record<string, Uint8Array> = {};
  for (const name of Object.keys(all).sort()) if (!FORBIDDEN_XATTRS.has(name)) out[name] = all[name] as Buffer;
  return out;
}

/**
 * Yields every entry of the tree at `root`.
 *
 * @example
 * for await (const { entry, source } of walkTree('/tmp/rootfs')) console.log(entry.path, entry.type);
 */
export async function* walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<WalkedEntry> {
  const withXattrs = options.xattrs ?? true;
  const links = options.hardlinks === false ? undefined : new Map<string, string>();
  const rootStat = await lstat(root);
  if (options.root ?? true) yield describe('.', root, rootStat, withXattrs, links);
  yield* walkDir(root, '', withXattrs, links);
}

async function* walkDir(
  abs: string,
  rel: string,
  withXattrs: boolean,
  links: Map<string, string> | undefined,
): AsyncGenerator<WalkedEntry> {
  const names = (await readdir(abs)).sort(byBytes);
  for (const name of names) {
    const childAbs = path.join(abs, name);
    const childRel = rel === '' ? name : `${rel}/${name}`;
    let st: Stats;
    try {
      st = await lstat(childAbs);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // removed while walking
      throw err;
    }
    if (st.isSocket()) continue;
    const item = await describeAsync(childRel, childAbs, st, withXattrs, links);
    yield item;
    if (st.isDirectory()) yield* walkDir(childAbs, childRel, withXattrs, links);
  }
}

async function describeAsync(
  rel: string,
  abs: string,
  st: Stats,
  withXattrs: boolean,
  links: Map<string, string> | undefined,
): Promise<WalkedEntry> {
  const item = describe(rel, abs, st, withXattrs, links);
  if (item.entry.type === 'symlink') item.entry.linkname = await readlink(abs);
  return item;
}

function describe(rel: string, abs: string, st: Stats, withXattrs: boolean, links: Map<string, string> | undefined): WalkedEntry {
  const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isDirectory()) return { entry: { ...base, type: 'directory', xattrs: xattrsOf(abs, withXattrs) } };
  if (links && st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) return { entry: { ...base, type: 'hardlink', linkname: first, xattrs: {} } };
    links.set(key, rel);
  }
  const xattrs = xattrsOf(abs, withXattrs);
  if (st.isFile()) return { entry: { ...base, type: 'file', size: st.size, xattrs }, source: abs };
  if (st.isSymbolicLink()) return { entry: { ...base, type: 'symlink', linkname: '', xattrs } };
  if (st.isFIFO()) return { entry: { ...base, type: 'fifo', xattrs } };
  const { major, minor } = splitDev(st.rdev);
  return { entry: { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor, xattrs } };
}
