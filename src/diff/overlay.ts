/**
 * @module diff/overlay
 * A container's changes from its overlayfs upper directory, in O(changes): only the upper is
 * walked; the lower image is asked about the paths the upper names (`UnionView.lstat`, an
 * in-memory lookup) and listed only under opaque directories. This is docker's overlay driver
 * (`OverlayChanges`, moby-go-archive CASES §2), which `podman diff` runs too, with cairn's
 * entry rules (`compare.ts`) and these deliberate differences (spec-notes/changesets.md):
 *
 * - A 0:0 character device is a whiteout: `D` of that path when the lower has it (a whiteout
 *   of nothing lists nothing).
 * - An opaque directory (`trusted.overlay.opaque=y`, or `user.overlay.opaque=y`) hides the
 *   lower contents below it: it is `C` (or `A`, or a type change) like any directory, and every
 *   lower child that the upper does not hold again is `D`. docker and containers/storage list
 *   the opaque directory itself as `D` (and continuity a pseudo path `/dir/.wh..opq`); both
 *   name a path that still exists.
 * - An upper entry the lower also has is `C` only if it differs (a copy-up that changed
 *   nothing, say `chown` to the same owner, is not a change); docker lists every non-directory
 *   of the upper as `C`. Directories are compared the same way (docker: size, mode, mtime).
 * - Upper paths are literal: overlayfs never resolves an upper path through a lower symlink,
 *   so neither does this (a directory of the upper where the lower has a symlink is a type
 *   change, and its contents are `A`).
 * - The parent rule is docker's: the directory holding an `A` or `D` is `C`.
 *
 * `layerFromOverlayUpper` turns an upper into a layer tar as it is (commit): the upper's own
 * whiteouts and opaque markers in OCI form (`src/layer/walk.ts` does the conversion).
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { errnoCode } from '../errors.js';
import { walkTree } from '../layer/walk.js';
import { isOverlayOpaque, isOverlayWhiteout, parseWhiteout, unescapeOverlayXattr, type OverlayXattrPrefix } from '../layer/whiteout.js';
import { splitDev } from '../sys/mknod.js';
import { readXattrs } from '../sys/xattr.js';
import { FORBIDDEN_XATTRS } from '../layer/apply-meta.js';
import { packTar, type TarBody, type TarEntryInit } from '../tar/index.js';
import type { UnionView } from '../union/view.js';
import { sortChanges, type Change, type EntryMeta } from './change.js';
import { compareEntries } from './compare.js';
import { hashFile, hashStream, metaOfStats, metaOfUnionStat, typeOfStats } from './sides.js';
import { compareNames } from './tree-diff.js';

export interface OverlayDiffOptions {
  /** Read and compare xattrs (default true). Whiteouts and opaque markers are always read. */
  xattrs?: boolean;
}

interface UpperChild {
  name: string;
  rel: string;
  abs: string;
  st: Stats;
  whiteout: boolean;
  /** All on-disk xattrs (overlay bookkeeping included). */
  raw: Record<string, Uint8Array>;
}

function rawXattrs(file: string): Record<string, Uint8Array> {
  if (process.platform !== 'linux') return {};
  try {
    return readXattrs(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM' || code === 'EACCES') return {};
    throw err;
  }
}

/** The layer's own xattrs: overlayfs' attributes dropped, escaped ones unescaped, host ones left out. */
function layerXattrs(raw: Readonly<Record<string, Uint8Array>>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of Object.keys(raw).sort()) {
    const prefix: OverlayXattrPrefix | undefined = name.startsWith('trusted.overlay.')
      ? 'trusted.overlay.'
      : name.startsWith('user.overlay.')
        ? 'user.overlay.'
        : undefined;
    const real = prefix ? unescapeOverlayXattr(name, prefix) : name;
    if (real !== undefined && !FORBIDDEN_XATTRS.has(real)) out[real] = raw[name] as Uint8Array;
  }
  return out;
}

/**
 * The changes a container made, from its overlay upper directory and the union view of its
 * image (the lower), sorted.
 *
 * @example
 * const lower = await UnionView.open(store, image);
 * const changes = await diffOverlayUpper(`${containerDir}/upper`, lower);
 */
export async function diffOverlayUpper(upperDir: string, lower: UnionView, options: OverlayDiffOptions = {}): Promise<Change[]> {
  const root = path.resolve(upperDir);
  const withXattrs = options.xattrs ?? true;
  const out: Change[] = [];

  const lowerMeta = (rel: string): EntryMeta | undefined => {
    try {
      return metaOfUnionStat(lower.lstat(`/${rel}`));
    } catch (err) {
      const errno = (err as { data?: { errno?: string } }).data?.errno;
      if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
      throw err;
    }
  };

  const children = async (rel: string): Promise<UpperChild[]> => {
    const dir = rel === '' ? root : path.join(root, rel);
    const found = await Promise.all(
      (await readdir(dir)).map(async (name): Promise<UpperChild | undefined> => {
        const abs = path.join(dir, name);
        let st: Stats;
        try {
          st = await lstat(abs);
        } catch (err) {
          if (errnoCode(err) === 'ENOENT') return undefined;
          throw err;
        }
        if (typeOfStats(st) === undefined) return undefined;
        const whiteout = st.isCharacterDevice() && isOverlayWhiteout({ type: 'char', ...devOf(st) });
        const raw = whiteout ? {} : st.isDirectory() || withXattrs ? rawXattrs(abs) : {};
        return { name, rel: rel === '' ? name : `${rel}/${name}`, abs, st, whiteout, raw };
      }),
    );
    return found.filter((c): c is UpperChild => c !== undefined).sort((a, b) => compareNames(a.name, b.name));
  };

  const upperMeta = async (child: UpperChild): Promise<EntryMeta> => {
    const type = typeOfStats(child.st) ?? 'file';
    return metaOfStats(child.st, type, {
      ...(type === 'symlink' ? { linkname: await readlink(child.abs) } : {}),
      ...(withXattrs ? { xattrs: layerXattrs(child.raw) } : {}),
    });
  };

  /** Everything below an upper directory the lower does not have: all `A`. */
  const addAll = async (rel: string): Promise<void> => {
    for (const child of await children(rel)) {
      if (child.whiteout) continue;
      out.push({ path: `/${child.rel}`, kind: 'A', after: await upperMeta(child) });
      if (child.st.isDirectory()) await addAll(child.rel);
    }
  };

  /**
   * An upper directory whose lower counterpart is a real directory. `hidden`: an opaque
   * directory at or above it hides the lower contents. Returns whether an entry was added or
   * deleted directly inside it.
   */
  const visit = async (rel: string, hidden: boolean): Promise<boolean> => {
    let direct = false;
    const kept = new Set<string>();
    for (const child of await children(rel)) {
      const before = lowerMeta(child.rel);
      if (child.whiteout) {
        if (before && !hidden) {
          out.push({ path: `/${child.rel}`, kind: 'D', before });
          direct = true;
        }
        continue;
      }
      kept.add(child.name);
      let after = await upperMeta(child);
      if (!before) {
        out.push({ path: `/${child.rel}`, kind: 'A', after });
        direct = true;
        if (after.type === 'directory') await addAll(child.rel);
        continue;
      }
      let verdict = compareEntries(before, after);
      let beforeMeta = before;
      if (verdict === 'content') {
        const upperDigest = await hashFile(child.abs, after.size);
        const lowerDigest = before.sha256 ?? (await hashStream(await lower.createReadStream(`/${child.rel}`)));
        beforeMeta = { ...before, sha256: lowerDigest };
        after = { ...after, sha256: upperDigest };
        verdict = upperDigest === lowerDigest ? 'same' : 'changed';
      }
      const change: Change = { path: `/${child.rel}`, kind: 'C', before: beforeMeta, after };
      if (before.type === 'directory' && after.type === 'directory') {
        const inner = await visit(child.rel, hidden || isOverlayOpaque(child.raw));
        if (verdict === 'changed' || inner) out.push(change);
        continue;
      }
      if (verdict === 'changed') out.push(change);
      if (after.type === 'directory') await addAll(child.rel);
    }
    if (hidden) {
      for (const entry of lower.readdirStats(`/${rel}`)) {
        if (kept.has(entry.name)) continue;
        out.push({ path: `/${rel === '' ? entry.name : `${rel}/${entry.name}`}`, kind: 'D', before: metaOfUnionStat(entry.stat) });
        direct = true;
      }
    }
    return direct;
  };

  await visit('', isOverlayOpaque(rawXattrs(root)));
  return sortChanges(out);
}

function devOf(st: Stats): { devmajor: number; devminor: number } {
  const { major, minor } = splitDev(st.rdev);
  return { devmajor: major, devminor: minor };
}

export interface OverlayLayerOptions {
  /** SOURCE_DATE_EPOCH: no entry is newer than this. */
  clampMtime?: Date;
  /** The overlay xattr namespace of the mount (default 'trusted.overlay.'). */
  xattrPrefix?: OverlayXattrPrefix;
  /**
   * Paths (relative, `proc`) whose whiteouts are left out because they hide nothing of the image:
   * a container's init-layer mount points removed in the container.
   */
  omitWhiteouts?: ReadonlySet<string>;
}

/**
 * The upper directory of an overlay mount as an OCI layer tar (uncompressed, deterministic:
 * sorted entries, numeric owners, PAX where needed): 0:0 devices become `.wh.NAME`, opaque
 * directories get `.wh..wh..opq`, overlayfs' own xattrs are dropped, hardlinks inside the upper
 * stay hardlinks. What `commit` stores.
 *
 * @example
 * const draft2 = await appendLayer(store, draft, layerFromOverlayUpper(upper, { clampMtime }));
 */
export function layerFromOverlayUpper(upperDir: string, options: OverlayLayerOptions = {}): Readable {
  const omit = options.omitWhiteouts;
  const root = path.resolve(upperDir);
  async function* items(): AsyncGenerator<{ entry: TarEntryInit; body?: TarBody }> {
    for await (const { entry, source } of walkTree(root, { overlay: options.xattrPrefix ?? 'trusted.overlay.', root: false })) {
      const whiteout = parseWhiteout(entry.path, 'upper');
      if (whiteout) {
        const target = whiteout.kind === 'opaque' ? undefined : whiteout.dir === '' ? whiteout.name : `${whiteout.dir}/${whiteout.name}`;
        if (omit && target !== undefined && omit.has(target)) continue;
        yield { entry };
        continue;
      }
      yield source !== undefined && entry.type === 'file' ? { entry, body: createReadStream(source) } : { entry };
    }
  }
  return packTar(items(), options.clampMtime ? { clampMtime: options.clampMtime } : {});
}
