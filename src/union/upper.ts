/**
 * @module union/upper
 * The writable layer on top of a union view (a container's changes), in overlayfs' form:
 * a deleted path is a whiteout (a 0:0 character device), a directory whose lower contents are
 * hidden carries `trusted.overlay.opaque=y` (or `user.overlay.opaque=y` on userxattr mounts).
 * Everything else is the new content itself.
 *
 * `UpperLayer` is what the view needs: the entries (parents first) and a way to read a file.
 * Two implementations: `DirectoryUpper` reads an overlay upper directory (the container's
 * `upper/`), `MemoryUpper` holds a changeset in memory (tests, commit previews). overlayfs
 * features beyond whiteouts and opaque dirs (redirect_dir, metacopy) are not interpreted.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CairnError } from '../errors.js';
import { splitDev } from '../sys/mknod.js';
import { readXattrs as readDiskXattrs } from '../sys/xattr.js';
import { isOverlayOpaque, unescapeOverlayXattr } from '../layer/whiteout.js';
import { typeOfStats, type EntryMetadata } from '../layer/entry-meta.js';

export interface UpperEntry extends EntryMetadata {
  /** Relative, cleaned path. */
  readonly path: string;
  /** Without the `trusted.overlay.*` / `user.overlay.*` bookkeeping. */
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
  /** An overlay whiteout: the path is deleted. */
  readonly whiteout?: boolean;
  /** An opaque directory: nothing below it comes from the lower layers. */
  readonly opaque?: boolean;
  /** Identity for hardlinks: entries with the same key are one inode. */
  readonly inode?: number | string;
}

export interface UpperLayer {
  /** Every entry, each directory before its contents. */
  entries(): AsyncIterable<UpperEntry>;
  /** The content of the file entry at `path`. */
  open(path: string): Promise<Readable>;
}

/** An overlay upper directory on disk. Reads it when `entries()` is iterated. */
export class DirectoryUpper implements UpperLayer {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = path.resolve(dir);
  }

  async *entries(): AsyncGenerator<UpperEntry> {
    yield* this.#walk('');
  }

  async *#walk(rel: string): AsyncGenerator<UpperEntry> {
    const names = (await readdir(path.join(this.#dir, rel))).sort();
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const full = path.join(this.#dir, relPath);
      const st = await lstat(full, { bigint: false });
      const type = typeOfStats(st);
      if (type === undefined) {
        throw new CairnError('unsupported', `upper: ${relPath} is a socket, which no layer can hold`, { path: relPath });
      }
      const xattrs = readXattrs(full);
      const base = {
        path: relPath,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.trunc(st.mtimeMs),
        size: type === 'file' ? st.size : 0,
        inode: st.ino,
      };
      // overlayfs' own attributes are bookkeeping; a layer's `trusted.overlay.X` is stored escaped.
      const plain: Record<string, Uint8Array> = {};
      for (const [name, value] of Object.entries(xattrs)) {
        const prefix = name.startsWith('user.overlay.') ? 'user.overlay.' : 'trusted.overlay.';
        const real = unescapeOverlayXattr(name, prefix);
        if (real !== undefined) plain[real] = value;
      }
      const extra: { -readonly [K in keyof UpperEntry]?: UpperEntry[K] } = {};
      if (Object.keys(plain).length > 0) extra.xattrs = plain;
      if (type === 'char' && st.rdev === 0) extra.whiteout = true;
      if (type === 'char' || type === 'block') {
        const { major, minor } = splitDev(st.rdev);
        extra.devmajor = major;
        extra.devminor = minor;
      }
      if (type === 'symlink') extra.linkname = await readlink(full);
      if (type === 'directory' && isOverlayOpaque(xattrs)) extra.opaque = true;
      yield { ...base, ...extra };
      if (type === 'directory') yield* this.#walk(relPath);
    }
  }

  async open(relPath: string): Promise<Readable> {
    const full = path.join(this.#dir, path.join('/', relPath));
    return createReadStream(full);
  }
}

/** Extended attributes of a path; {} where the platform or filesystem has none. */
function readXattrs(file: string): Record<string, Uint8Array> {
  if (process.platform !== 'linux') return {};
  try {
    return readDiskXattrs(file);
  } catch {
    return {};
  }
}

/** A changeset held in memory: entries plus the bytes of each file. */
export class MemoryUpper implements UpperLayer {
  readonly #entries: readonly UpperEntry[];
  readonly #contents: ReadonlyMap<string, Uint8Array>;

  constructor(entries: readonly (UpperEntry & { content?: Uint8Array })[]) {
    this.#entries = entries;
    this.#contents = new Map(entries.filter((e) => e.content !== undefined).map((e) => [e.path, e.content as Uint8Array]));
  }

  async *entries(): AsyncGenerator<UpperEntry> {
    yield* this.#entries;
  }

  async open(relPath: string): Promise<Readable> {
    const bytes = this.#contents.get(relPath);
    if (bytes === undefined) throw new CairnError('not-found', `upper: no content for "${relPath}"`, { path: relPath });
    return Readable.from([Buffer.from(bytes)]);
  }
}
