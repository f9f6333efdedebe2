/**
 * @module layer/apply-inodes
 * Making the inode of one layer entry at a path already resolved and cleared inside the root
 * (layer/apply): a directory (made, or merged into one that exists), a file, a symlink, a
 * hardlink, a device node or fifo. What may be made off the main path goes to the write queue
 * (layer/apply-writes); what the entry says about owners, modes, xattrs and times is applied
 * as `apply-meta` rules, never through a symlink.
 */
import type { Stats } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { errnoCode, type CairnError } from '../errors.js';
import { mknod } from '../sys/mknod.js';
import { setXattr } from '../sys/xattr.js';
import type { TarEntry, TarItem } from '../tar/index.js';
import { clearOtherXattrs, CREATE_FLAGS, diskXattrs, finishFile, seconds, writeXattrs, type XattrPolicy } from './apply-meta.js';
import { dirname, join, type LayerTree } from './apply-tree.js';
import type { WriteQueue } from './apply-writes.js';
import { isOverlayWhiteout } from './whiteout.js';

/** File bodies up to this size are read into memory and finished by the write queue. */
const BUFFERED_FILE = 256 * 1024;

/** What making an inode needs from the layer being applied. */
export interface InodeContext {
  readonly tree: LayerTree;
  readonly writes: WriteQueue;
  /** Also says whether we are rootless and the overlay namespace (overlay mode). */
  readonly policy: XattrPolicy;
  /** Overlay mode: whether this layer made a whiteout device at `rel` (layer/apply-whiteouts). */
  whitedOut(rel: string): boolean;
  /** A warning about `entryPath`, caused by entry number `seq` (default: the current one). */
  warn(entryPath: string, message: string, seq?: number): void;
  /** An 'invalid-archive' error naming the layer and the current entry. */
  invalid(message: string): CairnError;
}

function xattrsOf(ctx: InodeContext, entry: TarEntry): [string, Uint8Array][] {
  return diskXattrs(entry.path, entry.xattrs, ctx.policy);
}

/** A directory entry at `rel`; merged into `existing` when that is a directory. */
export async function makeDirectory(ctx: InodeContext, rel: string, entry: TarEntry, existing: Stats | undefined): Promise<void> {
  const { tree, policy } = ctx;
  const abs = tree.abs(rel);
  const parent = dirname(rel);
  const mode = tree.modeNow(rel, entry.mode);
  const xattrs = xattrsOf(ctx, entry);
  if (existing?.isDirectory()) {
    tree.dirs.add(rel);
    if (!policy.rootless) await lchown(abs, entry.uid, entry.gid);
    await chmod(abs, mode);
    clearOtherXattrs(abs, entry.path, xattrs, policy);
  } else {
    const owner = tree.chownFor(parent, entry.uid, entry.gid);
    const fixMode = tree.needsChmod(parent, mode, true);
    // Xattrs and overlay markers are set here, on a directory that must exist by then.
    const worker = xattrs.length === 0 && !ctx.whitedOut(rel) ? ctx.writes.worker() : undefined;
    if (worker) {
      await worker.add({ kind: 'directory', path: abs, entryPath: entry.path, mode, chmod: fixMode, owner });
    } else {
      await ctx.writes.settle(parent);
      await mkdir(abs, mode & 0o777);
      if (owner) await lchown(abs, owner.uid, owner.gid);
      if (fixMode) await chmod(abs, mode);
    }
    tree.dirs.add(rel);
    tree.fresh.add(rel);
  }
  tree.noteDir(rel, entry.mode, entry.gid);
  writeXattrs({ path: abs, regularOrDir: true }, entry.path, xattrs, policy);
  if (policy.overlay && ctx.whitedOut(rel)) setXattr(abs, `${policy.overlay}opaque`, Buffer.from('y'));
  tree.dirTimes.set(rel, entry.mtime);
}

/**
 * A file entry, entry number `seq`. Small files are read into memory and made entirely by the
 * write queue (created with O_EXCL|O_NOFOLLOW, finished through the descriptor); big ones are
 * opened and streamed here, then finished by the queue.
 */
export async function makeFile(ctx: InodeContext, rel: string, { entry, body, content }: TarItem, seq: number): Promise<void> {
  const { tree, writes } = ctx;
  const abs = tree.abs(rel);
  const parent = dirname(rel);
  let handle: FileHandle | undefined;
  let chunks: Buffer[] | undefined;
  if (entry.size <= BUFFERED_FILE) {
    chunks = [await content()];
  } else {
    await writes.settle(parent);
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
  const owner = tree.chownFor(parent, entry.uid, entry.gid);
  const chmod = tree.needsChmod(parent, entry.mode, false);
  const xattrs = xattrsOf(ctx, entry);
  const worker = chunks !== undefined && xattrs.length === 0 ? writes.worker() : undefined;
  if (worker && chunks !== undefined) {
    const job = { kind: 'file', path: abs, mode: entry.mode, chmod, owner, mtime: seconds(entry.mtime), entryPath: entry.path } as const;
    await worker.add(job, chunks, entry.size);
    return;
  }
  await writes.settle(parent);
  const data = chunks === undefined ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  const finish = { handle, path: abs, entryPath: entry.path, data, owner, mode: entry.mode, chmod, xattrs, mtime: entry.mtime };
  await writes.run(rel, () => finishFile(finish, { ...ctx.policy, warn: (p, m) => ctx.warn(p, m, seq) }));
}

export async function makeSymlink(ctx: InodeContext, rel: string, entry: TarEntry): Promise<void> {
  const { tree } = ctx;
  const abs = tree.abs(rel);
  const parent = dirname(rel);
  const target = entry.linkname ?? '';
  const owner = tree.chownFor(parent, entry.uid, entry.gid);
  const xattrs = xattrsOf(ctx, entry);
  const mtime = seconds(entry.mtime);
  // Resolutions through `rel` are forgotten now; a new one waits for the link (beforeLookup).
  tree.resolver.changed(rel);
  const worker = xattrs.length === 0 ? ctx.writes.worker() : undefined;
  if (worker) {
    await worker.add({ kind: 'symlink', path: abs, entryPath: entry.path, target, owner, mtime });
    return;
  }
  await ctx.writes.settle(parent);
  await symlink(target, abs);
  if (owner) await lchown(abs, owner.uid, owner.gid);
  writeXattrs({ path: abs, regularOrDir: false }, entry.path, xattrs, ctx.policy);
  await lutimes(abs, mtime, mtime);
}

/**
 * Links to what the target names inside the root, not following its last component. Like
 * umoci (unlike containerd) the entry's own metadata is not applied: it would change the
 * shared inode, and through a symlink it could reach outside the root.
 */
export async function makeHardlink(ctx: InodeContext, rel: string, entry: TarEntry): Promise<void> {
  const { tree } = ctx;
  const linkname = entry.linkname ?? '.';
  const slash = linkname.lastIndexOf('/');
  const base = linkname.slice(slash + 1);
  if (linkname === '.' || base === '..') throw ctx.invalid(`hardlink to the root directory ("${linkname}")`);
  const target = join(await tree.resolver.resolve(slash === -1 ? '' : linkname.slice(0, slash)), base);
  try {
    await link(tree.abs(target), tree.abs(rel));
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw ctx.invalid(`hardlink target "${linkname}" does not exist`);
    if (code === 'EPERM') throw ctx.invalid(`hardlink target "${linkname}" is a directory`);
    throw err;
  }
}

/** Device nodes and fifos; false when skipped. */
export async function makeNode(ctx: InodeContext, rel: string, entry: TarEntry): Promise<boolean> {
  const { tree, policy } = ctx;
  if (entry.type !== 'fifo' && policy.rootless) {
    ctx.warn(entry.path, `${entry.type} device ${entry.devmajor ?? 0}:${entry.devminor ?? 0} skipped (not root)`);
    return false;
  }
  if (policy.overlay && isOverlayWhiteout(entry)) {
    ctx.warn(entry.path, 'a 0:0 character device cannot be stored in overlay form (it would be a whiteout); skipped');
    return false;
  }
  const abs = tree.abs(rel);
  const parent = dirname(rel);
  await ctx.writes.settle(parent);
  const type = entry.type === 'char' || entry.type === 'block' ? entry.type : 'fifo';
  mknod(abs, type, entry.mode & 0o777, entry.devmajor ?? 0, entry.devminor ?? 0);
  const owner = tree.chownFor(parent, entry.uid, entry.gid);
  if (owner) await lchown(abs, owner.uid, owner.gid);
  if (tree.needsChmod(parent, entry.mode, false)) await chmod(abs, entry.mode); // a node we just made
  writeXattrs({ path: abs, regularOrDir: false }, entry.path, xattrsOf(ctx, entry), policy);
  await lutimes(abs, seconds(entry.mtime), seconds(entry.mtime));
  return true;
}
