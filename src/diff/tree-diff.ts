/**
 * @module diff/tree-diff
 * The changeset of two trees, whatever they are made of (directories on disk, layer-index union
 * trees, union views): a merge-walk of both, directory by directory, names in byte order.
 *
 * Listing rules (docker's, as its overlay driver and `podman diff` apply them; moby-go-archive
 * CASES §1–§2, spec-notes/changesets.md):
 * - Only in the new tree: `A`, and every entry below it `A` too (each listed).
 * - Only in the old tree: `D`, for the top-most deleted path only (nothing below it is listed).
 * - In both: `C` when `compareEntries` says so (contents read only where it asks). A type change
 *   is `C` of that path alone: a directory replaced by a file lists no `D` for the old children;
 *   a file replaced by a directory lists its new children as `A`.
 * - A directory is also `C` when an entry was added or deleted directly inside it (the overlay
 *   driver's parent rule; moby's naive walk marks every ancestor of any change instead).
 * - `/` is never listed.
 * The result is sorted with `sortChanges`.
 */
import type { Digest } from '../digest/digest.js';
import { sortChanges, type Change, type EntryMeta } from './change.js';
import { compareEntries } from './compare.js';

/** One child of a directory, as a side reports it. */
export interface SideEntry<H> {
  readonly name: string;
  readonly meta: EntryMeta;
  /** Whatever the side needs to list this entry (if a directory) or read it (if a file). */
  readonly handle: H;
}

/** A tree to diff: its root and how to list a directory and hash a file. */
export interface TreeSide<H> {
  readonly root: H;
  /** The children of directory `dir` (at `rel`, relative, '' for the root), sorted by name bytes. */
  list(dir: H, rel: string): SideEntry<H>[] | Promise<SideEntry<H>[]>;
  /** The sha256 of a file's content (asked only when its meta has none). */
  digest(entry: SideEntry<H>, rel: string): Promise<Digest>;
}

/** Byte order of UTF-8 names (plain comparison is that order for ASCII). */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts side entries by name bytes, in place. */
export function sortByName<T extends { readonly name: string }>(entries: T[]): T[] {
  return entries.sort((x, y) => compareNames(x.name, y.name));
}

const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);

/** Files read (hashed) at once: enough to keep the disk busy, few enough for descriptors. */
const READERS = 16;

/** Runs at most `n` of the tasks given to it at once. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

export interface DiffTreesOptions<A, B> {
  /**
   * Directories known to hold the same subtree on both sides (metadata included): skipped
   * without listing them. Asked for every pair of directories at the same path.
   */
  identical?: (a: A, b: B) => boolean;
}

/**
 * The changes that turn tree `before` into tree `after`, sorted.
 *
 * @example
 * const changes = await diffTrees(new DiskSide('/tmp/a'), new DiskSide('/tmp/b'));
 */
export async function diffTrees<A, B>(before: TreeSide<A>, after: TreeSide<B>, options: DiffTreesOptions<A, B> = {}): Promise<Change[]> {
  const identical = options.identical;
  const reading = limiter(READERS);
  const out: Change[] = [];

  const addAll = async (rel: string, dir: B): Promise<void> => {
    for (const child of await after.list(dir, rel)) {
      const childRel = join(rel, child.name);
      out.push({ path: `/${childRel}`, kind: 'A', after: child.meta });
      if (child.meta.type === 'directory') await addAll(childRel, child.handle);
    }
  };

  /** Returns whether an entry was added or deleted directly inside the directory. */
  const walk = async (rel: string, dirA: A, dirB: B): Promise<boolean> => {
    const [la, lb] = await Promise.all([before.list(dirA, rel), after.list(dirB, rel)]);
    let i = 0;
    let j = 0;
    let direct = false;
    // Non-directories on both sides are compared concurrently (contents may have to be read;
    // the output is sorted at the end); directories one after the other, so that only the
    // current path's listings are held, not the whole tree's.
    const pending: Promise<void>[] = [];
    const dirs: [string, SideEntry<A>, SideEntry<B>][] = [];
    while (i < la.length || j < lb.length) {
      const ea = la[i];
      const eb = lb[j];
      const order = ea === undefined ? 1 : eb === undefined ? -1 : compareNames(ea.name, eb.name);
      if (order < 0 && ea) {
        out.push({ path: `/${join(rel, ea.name)}`, kind: 'D', before: ea.meta });
        direct = true;
        i++;
      } else if (order > 0 && eb) {
        const childRel = join(rel, eb.name);
        out.push({ path: `/${childRel}`, kind: 'A', after: eb.meta });
        if (eb.meta.type === 'directory') await addAll(childRel, eb.handle);
        direct = true;
        j++;
      } else if (ea && eb) {
        i++;
        j++;
        if (ea.meta.type === 'directory' && eb.meta.type === 'directory') dirs.push([join(rel, ea.name), ea, eb]);
        else pending.push(both(join(rel, ea.name), ea, eb));
      }
    }
    await Promise.all(pending);
    for (const [childRel, ea, eb] of dirs) await both(childRel, ea, eb);
    return direct;
  };

  const both = async (rel: string, ea: SideEntry<A>, eb: SideEntry<B>): Promise<void> => {
    if (identical && ea.meta.type === 'directory' && eb.meta.type === 'directory' && identical(ea.handle, eb.handle)) return;
    let beforeMeta = ea.meta;
    let afterMeta = eb.meta;
    let verdict = compareEntries(beforeMeta, afterMeta);
    if (verdict === 'content') {
      const [da, db] = await Promise.all([
        beforeMeta.sha256 ?? reading(() => before.digest(ea, rel)),
        afterMeta.sha256 ?? reading(() => after.digest(eb, rel)),
      ]);
      beforeMeta = { ...beforeMeta, sha256: da };
      afterMeta = { ...afterMeta, sha256: db };
      verdict = da === db ? 'same' : 'changed';
    }
    const change: Change = { path: `/${rel}`, kind: 'C', before: beforeMeta, after: afterMeta };
    if (beforeMeta.type === 'directory' && afterMeta.type === 'directory') {
      const direct = await walk(rel, ea.handle, eb.handle);
      if (verdict === 'changed' || direct) out.push(change);
      return;
    }
    if (verdict === 'changed') out.push(change);
    if (afterMeta.type === 'directory') await addAll(rel, eb.handle);
  };

  if (!identical?.(before.root, after.root)) await walk('', before.root, after.root);
  return sortChanges(out);
}
