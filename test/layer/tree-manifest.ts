/**
 * A comparable description of a directory tree for layer tests: one record per path (type,
 * permission bits, owner, size of non-directories, content sha256, link target, device
 * numbers, xattrs, optionally mtime), in a byte-order depth-first walk. Written independently
 * of `src/layer/walk.ts` (plain `fs` plus the xattr calls) so a bug there cannot hide itself.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { readXattrs } from '../../src/sys/xattr.js';

export interface TreeRecord {
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: string;
  owner: string;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: number;
  xattrs?: Record<string, string>;
  /** Milliseconds, only with `mtimes`. */
  mtime?: number;
  /** Number of names of this inode inside the tree, for files (hardlinks). */
  links?: number;
}

function typeOf(st: Stats): TreeRecord['type'] {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export interface ManifestOptions {
  mtimes?: boolean;
  /** Xattr names to leave out (e.g. security.selinux). */
  ignoreXattrs?: readonly string[];
}

/** The records of every path under `root` (the root itself is `.`). */
export async function treeManifest(root: string, options: ManifestOptions = {}): Promise<TreeRecord[]> {
  const out: TreeRecord[] = [];
  const inodes = new Map<string, TreeRecord[]>();
  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const type = typeOf(st);
    const rec: TreeRecord = { path: rel, type, mode: (st.mode & 0o7777).toString(8), owner: `${st.uid}:${st.gid}` };
    if (type !== 'dir') rec.size = st.size;
    if (type === 'file') {
      rec.sha256 = await sha256(abs);
      const key = `${st.dev}:${st.ino}`;
      inodes.set(key, [...(inodes.get(key) ?? []), rec]);
    }
    if (type === 'symlink') rec.link = await readlink(abs);
    if (type === 'char' || type === 'block') rec.rdev = st.rdev;
    if (type === 'symlink') rec.mode = '-'; // a symlink's mode means nothing on Linux
    const xattrs = Object.entries(readXattrs(abs)).filter(([k]) => !(options.ignoreXattrs ?? []).includes(k));
    if (xattrs.length > 0) rec.xattrs = Object.fromEntries(xattrs.map(([k, v]) => [k, v.toString('base64')]));
    if (options.mtimes && type !== 'symlink') rec.mtime = Math.floor(st.mtimeMs);
    out.push(rec);
    if (type === 'dir') {
      for (const name of (await readdir(abs)).sort(byBytes)) await visit(path.join(abs, name), rel === '.' ? name : `${rel}/${name}`);
    }
  };
  await visit(root, '.');
  for (const group of inodes.values()) for (const rec of group) rec.links = group.length;
  return out;
}

/** Relative paths in walk order, directories with a trailing `/` (the root left out). */
export async function listTree(root: string): Promise<string[]> {
  return (await treeManifest(root)).filter((r) => r.path !== '.').map((r) => (r.type === 'dir' ? `${r.path}/` : r.path));
}
