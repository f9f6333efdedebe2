/**
 * @module tar/entry
 * The tar entry model shared by the reader, the writer and the layer index, plus the two path
 * rules every other module relies on: how an entry name is cleaned (`cleanPath`) and the
 * deterministic order of entries (`comparePaths`/`sortEntries`).
 *
 * Path rule: names are cleaned like Go's `path.Clean` and made relative: `./a//b/` → `a/b`,
 * `/etc/x` → `etc/x`, `/../x` → `x` (a rooted path cannot climb), but a leading `..` of a
 * relative name is kept (`../x` stays `../x`) so that the layer applier, which owns breakout
 * safety (design §4), can see it and clamp or reject. The archive root (`/`, `./`, `.`) is
 * reported, not skipped, as the path `.`: it carries the root directory's mode, owner and
 * mtime (the 2013 docker scratch layer holds nothing else), and the applier decides what to do
 * with it. No entry ever has the empty path.
 */

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One member of a tar archive, as the reader reports it. */
export interface TarEntry {
  /** Cleaned, relative, never empty; `.` is the archive root. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (`mode & 0o7777`); no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Owner names when the archive carries them (non-empty); cairn's writer never writes them. */
  uname?: string;
  gname?: string;
  /**
   * Modification time with millisecond precision. PAX `mtime` keeps sub-second digits; digits
   * beyond the millisecond are truncated (a JS Date holds no more).
   */
  mtime: Date;
  /** Content bytes; 0 for every type but `file` (links, devices and dirs carry no data). */
  size: number;
  /**
   * Symlink target, verbatim (targets are data, never cleaned); hardlink target, cleaned like
   * `path` (it names another entry of the archive).
   */
  linkname?: string;
  /** Device numbers of `char` and `block` entries. */
  devmajor?: number;
  devminor?: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` (or `LIBARCHIVE.xattr.*`); values are binary. */
  xattrs: Record<string, Buffer>;
  /** Byte offset of the first content byte in the uncompressed tar stream. */
  offset: number;
  /** Byte offset of this entry's first header block, extended (PAX/GNU) headers included. */
  headerOffset: number;
}

/** What the writer needs: a TarEntry without the reader-only fields, most of them optional. */
export interface TarEntryInit {
  path: string;
  type: TarEntryType;
  /** Defaults: 0o644 for files, 0o755 for directories, 0o777 for symlinks, 0o644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Date or milliseconds since the epoch; default: the epoch. */
  mtime?: Date | number;
  /** Required for a file whose body is a stream; taken from a Buffer body otherwise. */
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Readonly<Record<string, Uint8Array>>;
}

/**
 * Cleans an entry name (see the module comment). `..` components are resolved lexically; a
 * rooted name loses its leading slashes after cleaning; the root and the empty name become `.`.
 */
export function cleanPath(name: string): string {
  const rooted = name.startsWith('/');
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  return out.length === 0 ? '.' : out.join('/');
}

/**
 * The sort key of a cleaned path: its UTF-8 bytes with `/` mapped to 0x00, so that comparing
 * keys byte-wise compares paths component by component (a parent sorts right before its own
 * children, `a` < `a/b` < `a-b`), the order of a depth-first walk that lists each directory in
 * byte order — what `tar --sort=name` and Go's `filepath.Walk` produce. The root `.` sorts first.
 */
function sortKey(path: string): Buffer {
  const cleaned = cleanPath(path);
  if (cleaned === '.') return Buffer.alloc(0);
  const key = Buffer.from(cleaned, 'utf8');
  for (let i = 0; i < key.length; i++) if (key[i] === 0x2f) key[i] = 0;
  return key;
}

/** Orders two entry paths the way `sortEntries` does: negative, zero or positive. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(sortKey(a), sortKey(b));
}

/**
 * Returns the entries in cairn's deterministic order: component-wise byte order of the cleaned
 * paths (see `sortKey`), so parents precede children and each directory's children are
 * contiguous. The sort is stable: entries with the same path keep their input order (a reader
 * reports duplicates; "last one wins" is the applier's rule, so their order is data).
 *
 * @example
 * sortEntries([{ path: 'a-b' }, { path: 'a/c' }, { path: 'a' }]) // a, a/c, a-b
 */
export function sortEntries<T extends { readonly path: string }>(entries: readonly T[]): T[] {
  const keyed = entries.map((entry, index) => ({ entry, index, key: sortKey(entry.path) }));
  keyed.sort((x, y) => Buffer.compare(x.key, y.key) || x.index - y.index);
  return keyed.map((k) => k.entry);
}
