/**
 * @module diff/layer-writer
 * A changeset as an OCI layer tar: applying it to the old tree gives the new tree (the
 * round-trip property `test/diff/property.test.ts` holds). Deterministic: entries in
 * `sortEntries` order, numeric owners, PAX only where needed (`src/tar/write.ts`), whiteouts
 * with owner 0:0, mode 0 and mtime 0, an optional SOURCE_DATE_EPOCH clamp; the same changes of
 * the same tree give the same bytes.
 *
 * - `A` and `C` paths are written from the new tree (`sourceDir`), with what `lstat` says when
 *   the layer is written (type, mode, owner, mtime, xattrs, link target, device numbers) and
 *   the file's bytes. A `C` of a directory writes the directory entry only (an applier merges
 *   it); a type change writes the new entry (an applier replaces what is there).
 * - `D` becomes `.wh.NAME`, except under an opaque directory (below).
 * - Opaque directories: a directory that exists on both sides gets `.wh..wh..opq` instead of
 *   its individual whiteouts when it was replaced wholesale, that is when (1) at least two
 *   of its entries were deleted and (2) nothing of the old directory survives unsent: every
 *   entry it holds in the new tree is `A`, or a `C` that is written whole (not a directory
 *   that was a directory before, whose unchanged contents the marker would hide). With one
 *   deletion a single `.wh.` is as small and is what docker and containerd write; when
 *   anything old survives the marker would delete it. `opaque: 'never'` turns it off.
 * - Hardlinks: the first name (in tar order) of an inode written in the layer carries the
 *   bytes, later names are hardlinks to it. When the changeset says a changed file has other
 *   names in the new tree (`after.links`), those names are written too, even if unchanged, so
 *   the link survives appliers that unpack a layer into an empty directory (docker's overlay2);
 *   umoci also re-sends them (their link count changed). No hardlink points outside the layer.
 * - `/` is never written (no change lists it).
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CairnError, errnoCode } from '../errors.js';
import { opaquePathFor, whiteoutEntry, whiteoutPathFor } from '../layer/whiteout.js';
import { packTar, sortEntries, type TarBody, type TarEntryInit } from '../tar/index.js';
import type { Change } from './change.js';
import { typeOfStats } from '../layer/entry-meta.js';
import { diskXattrs } from './sides.js';
import { splitDev } from '../sys/mknod.js';

export interface ChangesetLayerOptions {
  /** The new tree: every `A`/`C` path is read from here. */
  sourceDir: string;
  /** SOURCE_DATE_EPOCH: no entry is newer than this. */
  clampMtime?: Date;
  /** 'auto' (default): opaque markers for directories replaced wholesale (see above); 'never'. */
  opaque?: 'auto' | 'never';
  /** Write xattrs (default true). */
  xattrs?: boolean;
}

type Item = { kind: 'entry'; path: string } | { kind: 'whiteout'; path: string } | { kind: 'opaque'; path: string };

const rel = (p: string): string => p.replace(/^\/+/, '');
const parentOf = (p: string): string => {
  const slash = p.lastIndexOf('/');
  return slash === -1 ? '' : p.slice(0, slash);
};

/** Whether a change is written whole (nothing of the old path survives below it). */
function writtenWhole(change: Change): boolean {
  if (change.kind === 'A') return true;
  if (change.kind !== 'C' || !change.after || !change.before) return false;
  return change.after.type !== 'directory' || change.before.type !== 'directory';
}

/** Directories (relative) that get an opaque marker instead of individual whiteouts. */
async function opaqueDirs(sourceDir: string, byPath: ReadonlyMap<string, Change>, deletedIn: ReadonlyMap<string, number>): Promise<Set<string>> {
  const out = new Set<string>();
  for (const [dir, deletions] of deletedIn) {
    if (deletions < 2) continue;
    const own = dir === '' ? undefined : byPath.get(dir);
    // The directory itself must exist as a directory on both sides (a `C` dir → dir).
    if (dir !== '' && !(own?.kind === 'C' && own.before?.type === 'directory' && own.after?.type === 'directory')) continue;
    let names: string[];
    try {
      names = await readdir(dir === '' ? sourceDir : path.join(sourceDir, dir));
    } catch {
      continue;
    }
    if (names.every((name) => {
      const change = byPath.get(dir === '' ? name : `${dir}/${name}`);
      return change !== undefined && writtenWhole(change);
    })) {
      out.add(dir);
    }
  }
  return out;
}

/**
 * The layer tar (uncompressed) that turns the old tree into `options.sourceDir`, given the
 * changes between them (from any of the diff functions).
 *
 * @throws CairnError 'conflict' (on the stream) when a path of the changeset is gone from
 *   `sourceDir`, or no longer the type the changeset says.
 * @example
 * const changes = await diffDirectories(base, target);
 * await appendLayer(store, draft, writeChangesetLayer(changes, { sourceDir: target }));
 */
export function writeChangesetLayer(changes: readonly Change[], options: ChangesetLayerOptions): Readable {
  return packTar(items(changes, options), options.clampMtime ? { clampMtime: options.clampMtime } : {});
}

async function* items(changes: readonly Change[], options: ChangesetLayerOptions): AsyncGenerator<{ entry: TarEntryInit; body?: TarBody }> {
  const sourceDir = path.resolve(options.sourceDir);
  const byPath = new Map<string, Change>();
  const deletedIn = new Map<string, number>();
  for (const change of changes) {
    const p = rel(change.path);
    if (p === '' || p === '.') continue;
    byPath.set(p, change);
    if (change.kind === 'D') deletedIn.set(parentOf(p), (deletedIn.get(parentOf(p)) ?? 0) + 1);
  }
  const opaque = options.opaque === 'never' ? new Set<string>() : await opaqueDirs(sourceDir, byPath, deletedIn);

  const list: (Item & { sortPath: string })[] = [];
  const entries = new Set<string>();
  const addEntry = (p: string): void => {
    if (entries.has(p)) return;
    entries.add(p);
    list.push({ kind: 'entry', path: p, sortPath: p });
  };
  for (const [p, change] of byPath) {
    if (change.kind === 'D') {
      if (!opaque.has(parentOf(p))) list.push({ kind: 'whiteout', path: p, sortPath: whiteoutPathFor(p) });
      continue;
    }
    addEntry(p);
    for (const link of change.after?.links ?? []) addEntry(rel(link));
  }
  for (const dir of opaque) list.push({ kind: 'opaque', path: dir, sortPath: opaquePathFor(dir) });

  /** dev:ino → the first path written with it. */
  const written = new Map<string, string>();
  for (const item of sortEntries(list.map((i) => ({ ...i, path: i.sortPath, item: i })))) {
    const { item: it } = item;
    if (it.kind === 'whiteout') {
      yield { entry: whiteoutEntry(whiteoutPathFor(it.path)) };
    } else if (it.kind === 'opaque') {
      yield { entry: whiteoutEntry(opaquePathFor(it.path)) };
    } else {
      yield await entryFor(sourceDir, it.path, byPath.get(it.path), written, options.xattrs ?? true);
    }
  }
}

function gone(p: string, why: string): CairnError {
  return new CairnError('conflict', `/${p}: ${why} since the changeset was computed`, { path: `/${p}` });
}

async function entryFor(
  sourceDir: string,
  p: string,
  change: Change | undefined,
  written: Map<string, string>,
  withXattrs: boolean,
): Promise<{ entry: TarEntryInit; body?: TarBody }> {
  const abs = path.join(sourceDir, p);
  let st: Stats;
  try {
    st = await lstat(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw gone(p, 'it was removed');
    throw err;
  }
  const type = typeOfStats(st);
  if (type === undefined) throw gone(p, 'it became a socket');
  if (change?.after && change.after.type !== type) throw gone(p, `it became a ${type}`);
  const base: TarEntryInit = {
    path: p,
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.trunc(st.mtimeMs),
    ...(withXattrs ? { xattrs: diskXattrs(abs) } : {}),
  };
  switch (type) {
    case 'directory':
    case 'fifo':
      return { entry: base };
    case 'symlink':
      return { entry: { ...base, linkname: await readlink(abs) } };
    case 'char':
    case 'block': {
      const { major, minor } = splitDev(st.rdev);
      return { entry: { ...base, devmajor: major, devminor: minor } };
    }
    case 'file':
      break;
  }
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = written.get(key);
    if (first !== undefined) return { entry: { path: p, type: 'hardlink', linkname: first, mode: base.mode, uid: st.uid, gid: st.gid, mtime: base.mtime } };
    written.set(key, p);
  }
  return { entry: { ...base, size: st.size }, body: st.size === 0 ? Buffer.alloc(0) : fileBody(abs, st.size) };
}

/**
 * The first `size` bytes of a file, opened only when the tar writer reads them (O_NOFOLLOW: a
 * symlink swapped in since is refused) and closed however reading ends.
 */
async function* fileBody(abs: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for await (const chunk of handle.createReadStream({ start: 0, end: size - 1, autoClose: false })) yield chunk as Buffer;
  } finally {
    await handle.close();
  }
}
