/**
 * @module diff/overlay-lower
 * The lower side of a container's overlay diff: what the container saw before it changed
 * anything. Two sources answer the same three questions (an entry's metadata, a directory's
 * entries, a file's bytes):
 *
 * - `layerDirsLower`: the image's unpacked layer directories, exactly the lowerdirs the
 *   container's overlay is mounted with, looked up as overlayfs looks them up (top layer first;
 *   a 0:0 character device hides the name below it; an opaque directory hides the layers below
 *   it; a non-directory ends the merge). This is what `podman diff` reads too. It costs an
 *   `lstat` or two per path the upper names, and needs neither the layer indexes nor the meta
 *   database (LevelDB: ~40 ms to load and open, a whole process's budget for `diff`).
 * - `unionLower`: a `UnionView` of the image (layer indexes), for callers that have one.
 *
 * Both report an entry as the layer holding it records it (overlay bookkeeping xattrs dropped).
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CairnError, errnoCode } from '../errors.js';
import { isOverlayOpaque } from '../layer/whiteout.js';
import type { UnionView } from '../union/view.js';
import type { EntryMeta } from './change.js';
import { layerXattrs, rawXattrs } from './overlay-xattrs.js';
import { typeOfStats } from '../layer/entry-meta.js';
import { metaOfStats, metaOfUnionStat } from './sides.js';

/** A named entry of a lower directory. */
export interface LowerEntry {
  readonly name: string;
  readonly meta: EntryMeta;
}

/**
 * The tree below a container's upper. Paths are relative (`etc/passwd`, '' for the root) and
 * literal: overlayfs never resolves an upper path through a lower symlink.
 */
export interface OverlayLower {
  /** The entry at `rel`, or undefined when the lower has none (or a parent is not a directory). */
  entry(rel: string): Promise<EntryMeta | undefined>;
  /** The entries directly inside directory `rel`, in no particular order. */
  children(rel: string): Promise<LowerEntry[]>;
  /** The bytes of file `rel`. */
  content(rel: string): Promise<Readable>;
}

/** The lower as a union view of the image's layers (from their indexes) answers it. */
export function unionLower(view: UnionView): OverlayLower {
  return {
    entry: async (rel) => {
      try {
        return metaOfUnionStat(view.lstat(`/${rel}`));
      } catch (err) {
        const errno = (err as { data?: { errno?: string } }).data?.errno;
        if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
        throw err;
      }
    },
    children: async (rel) => view.readdirStats(`/${rel}`).map((e) => ({ name: e.name, meta: metaOfUnionStat(e.stat) })),
    content: (rel) => view.createReadStream(`/${rel}`),
  };
}

/** A union view as an `OverlayLower`; an `OverlayLower` as it is. */
export function asOverlayLower(lower: UnionView | OverlayLower): OverlayLower {
  return 'children' in lower ? lower : unionLower(lower);
}

/**
 * `lstat`, or undefined where nothing is (a missing name, or a parent that is not a directory).
 * Synchronous, like every metadata call of the layer-directory lower: a lookup is a few calls of
 * microseconds each, which a thread-pool round trip apiece would multiply.
 */
function lstatIfAny(abs: string): Stats | undefined {
  try {
    return lstatSync(abs, { throwIfNoEntry: false });
  } catch (err) {
    if (errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** The topmost layer's entry at a path, and the layers whose directories merge there (top first). */
interface Found {
  readonly abs: string;
  readonly st: Stats;
  readonly raw: Record<string, Uint8Array>;
  /** For a directory: the layer roots whose same-named directory shows through. */
  readonly merged: readonly string[];
}

/**
 * The lower made of unpacked layer directories, top layer first (the order of overlayfs'
 * `lowerdir=`). Fails with 'not-found' when one of them is missing (gc'd, or never unpacked).
 *
 * @example
 * const lower = await layerDirsLower(record.layers.map((l) => path.join(store.paths.layers, l)).reverse());
 * const changes = await diffOverlayUpper(`${containerDir}/upper`, lower);
 */
export async function layerDirsLower(layers: readonly string[]): Promise<OverlayLower> {
  for (const layer of layers) {
    const st = lstatIfAny(layer);
    if (!st?.isDirectory()) throw new CairnError('not-found', `layer directory ${layer} is missing`, { path: layer });
  }
  /** Directories already looked up (their merge is needed for every child). */
  const dirs = new Map<string, Found | undefined>();

  /** Looks up `name` in `parent` (a merged directory); `merge` also lists the lower directories below a directory hit. */
  const lookupIn = (parent: Found, rel: string, merge: boolean): Found | undefined => {
    let top: Found | undefined;
    const merged: string[] = [];
    for (const layer of parent.merged) {
      const abs = path.join(layer, rel);
      const st = lstatIfAny(abs);
      if (!st) continue;
      if (isWhiteout(st)) break;
      if (top && !st.isDirectory()) break;
      const raw = st.isDirectory() || !top ? rawXattrs(abs) : {};
      top ??= { abs, st, raw, merged };
      if (!st.isDirectory() || !merge) break;
      merged.push(layer);
      if (isOverlayOpaque(raw)) break;
    }
    return top;
  };

  const directory = (rel: string): Found | undefined => {
    let found: Found | undefined;
    if (dirs.has(rel)) found = dirs.get(rel);
    else {
      const parent = rel === '' ? undefined : parentOf(rel);
      found = rel === '' ? root() : parent ? lookupIn(parent, rel, true) : undefined;
      dirs.set(rel, found);
    }
    return found?.st.isDirectory() ? found : undefined;
  };

  const root = (): Found | undefined => {
    const merged: string[] = [];
    for (const layer of layers) {
      merged.push(layer);
      if (isOverlayOpaque(rawXattrs(layer))) break;
    }
    const top = merged[0];
    return top === undefined ? undefined : { abs: top, st: lstatSync(top), raw: rawXattrs(top), merged };
  };

  const parentOf = (rel: string): Found | undefined => directory(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));

  const metaOf = (found: Found): EntryMeta => {
    const type = typeOfStats(found.st) ?? 'file';
    return metaOfStats(found.st, type, {
      ...(type === 'symlink' ? { linkname: readlinkSync(found.abs) } : {}),
      xattrs: layerXattrs(found.raw),
    });
  };

  const find = (rel: string): Found | undefined => {
    if (rel === '') return directory('');
    const parent = parentOf(rel);
    return parent ? lookupIn(parent, rel, false) : undefined;
  };

  return {
    async entry(rel) {
      const found = find(rel);
      return found && typeOfStats(found.st) !== undefined ? metaOf(found) : undefined;
    },
    async children(rel) {
      const dir = directory(rel);
      if (!dir) return [];
      const names = new Set<string>();
      for (const layer of dir.merged) for (const name of readdirSync(path.join(layer, rel))) names.add(name);
      const out: LowerEntry[] = [];
      for (const name of names) {
        const found = lookupIn(dir, rel === '' ? name : `${rel}/${name}`, false);
        if (found && typeOfStats(found.st) !== undefined) out.push({ name, meta: metaOf(found) });
      }
      return out;
    },
    async content(rel) {
      const found = find(rel);
      if (!found?.st.isFile()) throw new CairnError('not-found', `no file /${rel} in the lower layers`, { path: `/${rel}` });
      return createReadStream(found.abs);
    },
  };
}
