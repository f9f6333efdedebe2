/**
 * @module diff/compare
 * When is an entry present on both sides "changed"? docker's rules (moby/go-archive
 * `changes.go` as the overlay driver applies them, which `podman diff` uses too), made
 * precise for cairn's sources (disk, layer indexes, overlay uppers):
 *
 * - The type, the permission bits (setuid/setgid/sticky included), uid or gid differ.
 * - The xattrs differ (all of them, not only `security.capability` as moby compares;
 *   host-specific `security.selinux`/`system.nfs4_acl` are never recorded, see `FORBIDDEN_XATTRS`).
 * - Symlinks: the target differs; devices: the numbers differ; files: the size differs.
 * - The mtime differs, for directories too (the overlay driver compares a copied-up
 *   directory's mtime; moby's naive `ChangesDirs` ignores directory times on Linux: see
 *   spec-notes/changesets.md). Times are compared at millisecond precision (what a layer index
 *   and cairn's tar writer hold; disk nanoseconds are truncated). Two times in the same second
 *   where one side has no sub-second part are taken as equal (moby's `sameFsTime`: a tar without
 *   PAX times truncates to seconds).
 * - Contents: when both sides know their sha256 (layer indexes), it is compared, always. When a
 *   side must be read (a file on disk), it is read only when metadata cannot tell: same size,
 *   and a time that may have lost precision (equal whole seconds, or equal after truncation).
 *   That is continuity's `sameFile` rule (content compared when both mtimes have no
 *   sub-second part) at cairn's precision; equal sub-second mtimes trust the metadata, as
 *   continuity and docker do (a rewrite with the same size and the same millisecond is not
 *   seen). Empty files are equal.
 *
 * Not compared, as in docker: link counts, inode numbers, ctime/atime, directory sizes.
 */
import type { EntryMeta } from './change.js';

/** 'content': the metadata is equal but the contents must be compared to decide. */
export type Verdict = 'same' | 'changed' | 'content';

/** 'exact', 'truncated' (same second, one side whole seconds) or false. */
export function sameTime(a: number, b: number): 'exact' | 'truncated' | false {
  if (a === b) return 'exact';
  if (Math.floor(a / 1000) !== Math.floor(b / 1000)) return false;
  return wholeSecond(a) || wholeSecond(b) ? 'truncated' : false;
}

function wholeSecond(ms: number): boolean {
  return ((ms % 1000) + 1000) % 1000 === 0;
}

/** Same names with the same bytes (order does not matter). */
export function sameXattrs(
  a: Readonly<Record<string, Uint8Array>> | undefined,
  b: Readonly<Record<string, Uint8Array>> | undefined,
): boolean {
  const ka = a ? Object.keys(a) : [];
  const kb = b ? Object.keys(b) : [];
  if (ka.length !== kb.length) return false;
  for (const name of ka) {
    const x = a?.[name] as Uint8Array;
    const y = b?.[name];
    if (y === undefined || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

/**
 * Compares two entries of the same path (see the module comment for the rules).
 *
 * @example
 * compareEntries(lowerFile, upperFile) // 'content' when only reading both can tell
 */
export function compareEntries(a: EntryMeta, b: EntryMeta): Verdict {
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return 'changed';
  if (!sameXattrs(a.xattrs, b.xattrs)) return 'changed';
  switch (a.type) {
    case 'symlink':
      if (a.linkname !== b.linkname) return 'changed';
      break;
    case 'char':
    case 'block':
      if ((a.devmajor ?? 0) !== (b.devmajor ?? 0) || (a.devminor ?? 0) !== (b.devminor ?? 0)) return 'changed';
      break;
    case 'file':
      if (a.size !== b.size) return 'changed';
      break;
    default:
      break;
  }
  const time = sameTime(a.mtime, b.mtime);
  if (time === false) return 'changed';
  if (a.type !== 'file' || a.size === 0) return 'same';
  if (a.sha256 !== undefined && b.sha256 !== undefined) return a.sha256 === b.sha256 ? 'same' : 'changed';
  return time === 'truncated' || wholeSecond(a.mtime) ? 'content' : 'same';
}
