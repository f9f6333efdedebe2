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
 * With `overlay`, the tree is an overlayfs upper directory and comes out as OCI layer entries
 * (`overlayToOci`): 0:0 devices become `.wh.NAME` whiteouts, opaque directories get their
 * `.wh..wh..opq` marker, overlayfs' own xattrs are dropped, escaped ones unescaped; the order
 * is that of the converted names. This is the direction a diff writer needs (upper → layer).
 *
 * Memory stays flat: one directory's children at a time per level of the current path.
 *
 * Metadata is read with synchronous calls, as `diff/overlay` does: an lstat or readdir takes
 * microseconds, a thread-pool round trip for it several times that, and the walk waits for each
 * one anyway. Contents are the caller's to read.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { splitDev } from '../sys/mknod.js';
import { readXattrs } from '../sys/xattr.js';
import type { TarEntryInit } from '../tar/index.js';
import { FORBIDDEN_XATTRS } from './apply-meta.js';
import {
  isOverlayOpaque,
  isOverlayWhiteout,
  OPAQUE_WHITEOUT,
  overlayToOci,
  whiteoutEntry,
  WHITEOUT_PREFIX,
  type OverlayXattrPrefix,
} from './whiteout.js';

export interface WalkedEntry {
  /** The entry, path relative to the root (`.` for the root itself). */
  entry: TarEntryInit;
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
  /** The tree is an overlay upper in this xattr namespace: convert to OCI entries. */
  overlay?: OverlayXattrPrefix;
}

interface Ctx {
  withXattrs: boolean;
  links: Map<string, string> | undefined;
  overlay: OverlayXattrPrefix | undefined;
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
  const ctx: Ctx = {
    withXattrs: options.xattrs ?? true,
    links: options.hardlinks === false ? undefined : new Map<string, string>(),
    overlay: options.overlay,
  };
  const top = describe('.', root, lstatSync(root), ctx);
  const opaque = ctx.overlay !== undefined && isOverlayOpaque(top.entry.xattrs ?? {});
  if (ctx.overlay) top.entry = overlayToOci(top.entry, ctx.overlay)[0] as TarEntryInit;
  if (options.root ?? true) yield top;
  yield* walkDir(root, '', ctx, opaque);
}

interface Child {
  /** The name in the output (`.wh.NAME` for an overlay whiteout). */
  name: string;
  key: Buffer;
  kind: 'entry' | 'whiteout' | 'opaque';
  abs: string;
  st?: Stats;
}

async function* walkDir(abs: string, rel: string, ctx: Ctx, opaque: boolean): AsyncGenerator<WalkedEntry> {
  const children: Child[] = [];
  for (const name of readdirSync(abs)) {
    const childAbs = path.join(abs, name);
    const st = lstatSync(childAbs, { throwIfNoEntry: false });
    if (st === undefined) continue; // removed while walking
    if (st.isSocket()) continue;
    const { major, minor } = splitDev(st.rdev);
    const whiteout = ctx.overlay !== undefined && isOverlayWhiteout({ type: st.isCharacterDevice() ? 'char' : '', devmajor: major, devminor: minor });
    const out = whiteout ? `${WHITEOUT_PREFIX}${name}` : name;
    children.push({ name: out, key: Buffer.from(out, 'utf8'), kind: whiteout ? 'whiteout' : 'entry', abs: childAbs, st });
  }
  if (opaque) children.push({ name: OPAQUE_WHITEOUT, key: Buffer.from(OPAQUE_WHITEOUT), kind: 'opaque', abs });
  children.sort((a, b) => Buffer.compare(a.key, b.key));
  for (const child of children) {
    const childRel = rel === '' ? child.name : `${rel}/${child.name}`;
    if (child.kind !== 'entry' || child.st === undefined) {
      yield { entry: whiteoutEntry(childRel) };
      continue;
    }
    const item = describe(childRel, child.abs, child.st, ctx);
    const childOpaque = ctx.overlay !== undefined && child.st.isDirectory() && isOverlayOpaque(item.entry.xattrs ?? {});
    if (ctx.overlay) item.entry = overlayToOci(item.entry, ctx.overlay)[0] as TarEntryInit;
    yield item;
    if (child.st.isDirectory()) yield* walkDir(child.abs, childRel, ctx, childOpaque);
  }
}

function describe(rel: string, abs: string, st: Stats, ctx: Ctx): WalkedEntry {
  // Truncated to the millisecond as every other reader does (Node's st.mtime rounds).
  const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: new Date(Math.trunc(st.mtimeMs)) };
  if (st.isDirectory()) return { entry: { ...base, type: 'directory', xattrs: xattrsOf(abs, ctx.withXattrs) } };
  if (ctx.links && st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = ctx.links.get(key);
    if (first !== undefined) return { entry: { ...base, type: 'hardlink', linkname: first, xattrs: {} } };
    ctx.links.set(key, rel);
  }
  const xattrs = xattrsOf(abs, ctx.withXattrs);
  if (st.isFile()) return { entry: { ...base, type: 'file', size: st.size, xattrs }, source: abs };
  if (st.isSymbolicLink()) return { entry: { ...base, type: 'symlink', linkname: readlinkSync(abs), xattrs } };
  if (st.isFIFO()) return { entry: { ...base, type: 'fifo', xattrs } };
  const { major, minor } = splitDev(st.rdev);
  return { entry: { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor, xattrs } };
}
