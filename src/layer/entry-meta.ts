/**
 * @module layer/entry-meta
 * What cairn records about one filesystem entry, whatever holds it: a layer index entry
 * (`./layer-index.ts`), an overlay upper's entry (`src/union/upper.ts`) and each side of a
 * change (`src/diff/change.ts`) are this metadata plus what is their own (a tar offset, a
 * whiteout flag, a link count). Here because it is the lowest of those modules (design §9).
 * Types only; browser-safe.
 */
import type { BigIntStats, Stats } from 'node:fs';
import type { TarEntryType } from '../tar/entry.js';

/** The file types of a tree (a hardlink is a second name of a file, not a type of its own). */
export type FileType = Exclude<TarEntryType, 'hardlink'>;

/** An entry's metadata; `T` is the types it can have (a layer index also has hardlinks). */
export interface EntryMetadata<T extends TarEntryType = FileType> {
  readonly type: T;
  /** Permission bits including setuid, setgid and sticky (no file-type bits). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Milliseconds since the epoch (cairn's precision everywhere: layer indexes, tar writer). */
  readonly mtime: number;
  /** Content bytes of a file; 0 for every other type. */
  readonly size: number;
  /** Symlink target, verbatim (in a layer index, also a hardlink's cleaned target path). */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extended attributes (binary values); absent when none. */
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
}

/** The JSON form of `EntryMetadata`: mtime as ISO 8601, xattr values in base64. */
export type EntryMetadataJSON<T extends TarEntryType = FileType> = Omit<EntryMetadata<T>, 'mtime' | 'xattrs'> & {
  readonly mtime: string;
  readonly xattrs?: Readonly<Record<string, string>>;
};

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** The fields both forms hold as they are (all but mtime and xattrs). */
type PlainFields<T extends TarEntryType> = Omit<EntryMetadata<T>, 'mtime' | 'xattrs'>;

function plainFields<T extends TarEntryType>(from: PlainFields<T>): { -readonly [K in keyof PlainFields<T>]: PlainFields<T>[K] } {
  const out: { -readonly [K in keyof PlainFields<T>]: PlainFields<T>[K] } = { type: from.type, mode: from.mode, uid: from.uid, gid: from.gid, size: from.size };
  if (from.linkname !== undefined) out.linkname = from.linkname;
  if (from.devmajor !== undefined) out.devmajor = from.devmajor;
  if (from.devminor !== undefined) out.devminor = from.devminor;
  return out;
}

/** The JSON form of the metadata fields (xattrs by sorted name; none when there are none). */
export function metadataToJSON<T extends TarEntryType>(meta: EntryMetadata<T>): EntryMetadataJSON<T> {
  const xattrs = meta.xattrs;
  const names = xattrs ? Object.keys(xattrs).sort() : [];
  return {
    ...plainFields(meta),
    mtime: new Date(meta.mtime).toISOString(),
    ...(names.length > 0 ? { xattrs: Object.fromEntries(names.map((k) => [k, toBase64(xattrs?.[k] as Uint8Array)])) } : {}),
  };
}

/** The metadata fields back from their JSON form. */
export function metadataFromJSON<T extends TarEntryType>(json: EntryMetadataJSON<T>): EntryMetadata<T> {
  const xattrs = json.xattrs;
  return {
    ...plainFields(json),
    mtime: Date.parse(json.mtime),
    ...(xattrs ? { xattrs: Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, fromBase64(v)])) } : {}),
  };
}

/** The entry type of an lstat result; undefined for sockets (no tar form). */
export function typeOfStats(st: Stats | BigIntStats): FileType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined;
}
