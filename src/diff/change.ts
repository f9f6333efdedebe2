/**
 * @module diff/change
 * The changeset model: what `docker diff` prints (`A /path`, `C /path`, `D /path`), with the
 * metadata of each side, in one order (cairn's tar order, `comparePaths`: component-wise byte
 * order, so a directory comes right before its contents and `/a/b` before `/a-b`).
 *
 * A change's `before` is the entry in the old tree (C and D), `after` the entry in the new tree
 * (A and C). Paths are absolute (`/etc/motd`); `/` itself never appears. The rules deciding
 * what is listed are in `./compare.ts` (per entry) and `./tree-diff.ts` (per tree).
 */
import type { Digest } from '../digest/digest.js';
import { metadataToJSON, type EntryMetadata, type EntryMetadataJSON, type FileType } from '../layer/entry-meta.js';

/** A: added, C: changed (docker's "modified"), D: deleted. */
export type ChangeKind = 'A' | 'C' | 'D';

/** The file types a changeset knows (sockets have no tar form and are never listed). */
export type EntryType = FileType;

/** What a changeset records about one side of a path. */
export interface EntryMeta extends EntryMetadata<EntryType> {
  /** Extended attributes, host-specific ones (`security.selinux`, `system.nfs4_acl`) left out. */
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
  /** Content digest of a file, when known (layer indexes) or computed to compare contents. */
  readonly sha256?: Digest;
  /** Number of names of the inode (files on disk, union views). */
  readonly nlink?: number;
  /**
   * For a file with several names in a directory tree: every name of its inode in that tree
   * (absolute, sorted, this one included). Set by the directory walks on the new side of A/C
   * changes, so the layer writer can keep hardlinks (see `layer-writer.ts`).
   */
  readonly links?: readonly string[];
}

export interface Change {
  /** Absolute, cleaned: `/etc/motd`. Never `/`. */
  readonly path: string;
  readonly kind: ChangeKind;
  /** The old entry (C, D). */
  readonly before?: EntryMeta;
  /** The new entry (A, C). */
  readonly after?: EntryMeta;
}

/** docker's print form: `C /etc/motd`. */
export function formatChange(change: Pick<Change, 'kind' | 'path'>): string {
  return `${change.kind} ${change.path}`;
}

/** Every change on its own line (docker diff's output), or '' for none. */
export function formatChanges(changes: readonly Pick<Change, 'kind' | 'path'>[]): string {
  return changes.map((c) => `${formatChange(c)}\n`).join('');
}

/** Sorts changes by path in cairn's order (see the module comment); returns a new array. */
export function sortChanges<T extends Pick<Change, 'path'>>(changes: readonly T[]): T[] {
  const keyed = changes.map((change) => ({ change, key: sortKey(change.path) }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.change);
}

/** The key `comparePaths` (src/tar) sorts by, computed once per change: UTF-8, `/` → 0x00. */
function sortKey(path: string): Buffer {
  const bytes = Buffer.from(path.replace(/^\/+/, ''), 'utf8');
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x2f) bytes[i] = 0;
  return bytes;
}

/** The JSON form of an entry: mtime as ISO 8601, xattr values in base64. */
export interface EntryMetaJSON extends EntryMetadataJSON<EntryType> {
  readonly sha256?: string;
  readonly nlink?: number;
  readonly links?: readonly string[];
}

export interface ChangeJSON {
  readonly path: string;
  readonly kind: ChangeKind;
  readonly before?: EntryMetaJSON;
  readonly after?: EntryMetaJSON;
}

export function entryMetaToJSON(meta: EntryMeta): EntryMetaJSON {
  return {
    ...metadataToJSON(meta),
    ...(meta.sha256 !== undefined ? { sha256: meta.sha256 } : {}),
    ...(meta.nlink !== undefined ? { nlink: meta.nlink } : {}),
    ...(meta.links !== undefined ? { links: meta.links } : {}),
  };
}

/** The `--json` form of a change (`before`/`after` only where the change has them). */
export function changeToJSON(change: Change): ChangeJSON {
  return {
    path: change.path,
    kind: change.kind,
    ...(change.before ? { before: entryMetaToJSON(change.before) } : {}),
    ...(change.after ? { after: entryMetaToJSON(change.after) } : {}),
  };
}
