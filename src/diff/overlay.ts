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
 * The lower is asked through `OverlayLower` (./overlay-lower.ts): the image's unpacked layer
 * directories (as the container's mount sees them) or its union view. `layerFromOverlayUpper`
 * (./overlay-layer.ts) turns an upper into the layer tar that `commit` stores.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { isOverlayOpaque, isOverlayWhiteout } from '../layer/whiteout.js';
import { splitDev } from '../sys/mknod.js';
import type { UnionView } from '../union/view.js';
import { sortChanges, type Change, type EntryMeta } from './change.js';
import { compareEntries } from './compare.js';
import { asOverlayLower, type OverlayLower } from './overlay-lower.js';
import { layerXattrs, rawXattrs } from './overlay-xattrs.js';
import { hashFile, hashStream } from '../digest/file.js';
import { typeOfStats } from '../layer/entry-meta.js';
import { metaOfStats } from './sides.js';
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

/**
 * The changes a container made, from its overlay upper directory and the image below it (the
 * lower: a union view of its layers, or any `OverlayLower` such as its unpacked layer
 * directories), sorted.
 *
 * @example
 * const lower = await UnionView.open(store, image);
 * const changes = await diffOverlayUpper(`${containerDir}/upper`, lower);
 */
export async function diffOverlayUpper(upperDir: string, lowerTree: UnionView | OverlayLower, options: OverlayDiffOptions = {}): Promise<Change[]> {
  const root = path.resolve(upperDir);
  const withXattrs = options.xattrs ?? true;
  const lower = asOverlayLower(lowerTree);
  const out: Change[] = [];

  // Metadata is read with synchronous calls (the xattr calls are synchronous anyway): an
  // lstat or readdir takes microseconds, a thread-pool round trip for it several times that, and
  // `cairn diff CONTAINER` is mostly such calls.
  const children = (rel: string): UpperChild[] => {
    const dir = rel === '' ? root : path.join(root, rel);
    const found: UpperChild[] = [];
    for (const name of readdirSync(dir)) {
      const abs = path.join(dir, name);
      // Gone since the readdir (the container is running): not a change to report.
      const st = lstatSync(abs, { throwIfNoEntry: false });
      if (st === undefined || typeOfStats(st) === undefined) continue;
      const whiteout = st.isCharacterDevice() && isOverlayWhiteout({ type: 'char', ...devOf(st) });
      const raw = whiteout ? {} : st.isDirectory() || withXattrs ? rawXattrs(abs) : {};
      found.push({ name, rel: rel === '' ? name : `${rel}/${name}`, abs, st, whiteout, raw });
    }
    return found.sort((a, b) => compareNames(a.name, b.name));
  };

  const upperMeta = (child: UpperChild): EntryMeta => {
    const type = typeOfStats(child.st) ?? 'file';
    return metaOfStats(child.st, type, {
      ...(type === 'symlink' ? { linkname: readlinkSync(child.abs) } : {}),
      ...(withXattrs ? { xattrs: layerXattrs(child.raw) } : {}),
    });
  };

  /** Everything below an upper directory the lower does not have: all `A`. */
  const addAll = (rel: string): void => {
    for (const child of children(rel)) {
      if (child.whiteout) continue;
      out.push({ path: `/${child.rel}`, kind: 'A', after: upperMeta(child) });
      if (child.st.isDirectory()) addAll(child.rel);
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
    for (const child of children(rel)) {
      const before = await lower.entry(child.rel);
      if (child.whiteout) {
        if (before && !hidden) {
          out.push({ path: `/${child.rel}`, kind: 'D', before });
          direct = true;
        }
        continue;
      }
      kept.add(child.name);
      let after = upperMeta(child);
      if (!before) {
        out.push({ path: `/${child.rel}`, kind: 'A', after });
        direct = true;
        if (after.type === 'directory') addAll(child.rel);
        continue;
      }
      let verdict = compareEntries(before, after);
      let beforeMeta = before;
      if (verdict === 'content') {
        const upperDigest = await hashFile(child.abs, after.size);
        const lowerDigest = before.sha256 ?? (await hashStream(await lower.content(child.rel)));
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
      if (after.type === 'directory') addAll(child.rel);
    }
    if (hidden) {
      for (const entry of await lower.children(rel)) {
        if (kept.has(entry.name)) continue;
        out.push({ path: `/${rel === '' ? entry.name : `${rel}/${entry.name}`}`, kind: 'D', before: entry.meta });
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
