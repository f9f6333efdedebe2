/**
 * @module transport/archive-index
 * Random access to the members of a tar file on disk, for the archive transports
 * (`docker-archive:`, `oci-archive:`): scan the headers once, then open any member by name as a
 * stream of its bytes at their offset in the file, without extracting anything.
 *
 * - The scan uses the tar reader of `src/tar` (every quirk it accepts or refuses holds here), so
 *   it reads the archive once from start to end. With `hash`, each file member is hashed on that
 *   same pass (sha256 runs at about disk speed), which is how the docker-archive source learns
 *   every member's digest without a second read.
 * - Names are cleaned (`./manifest.json` and `manifest.json` are one member); when a name occurs
 *   twice the later member wins, as it would on extraction.
 * - `resolve` follows member symlinks and hardlinks to the file holding the bytes: `docker save`
 *   stores a layer shared by two images once and links `<id>/layer.tar` to `../<other>/layer.tar`.
 *   Only the last component is followed (docker and skopeo never link directories), relative to
 *   the link's directory, absolute targets taken from the archive root; loops fail.
 * - A whole archive compressed with gzip or zstd (`docker save | gzip`) is decompressed once
 *   into a temp file under the caller's `tmpDir`, indexed there, and removed by `close()`.
 *
 * It also owns the other end of an archive's life, `writeArchiveAtomic`: the archive
 * destinations write the whole tar to a temp file beside the target and rename it into place,
 * so a failed or interrupted write never leaves a half-written archive under the real name.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { nodeSha256, type Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import { cleanPath, decompressStream, packTar, tarEntries, type Compression, type TarBody, type TarEntryInit, type TarEntryType } from '../tar/index.js';
import { fsyncDir, fsyncPath, replaceVia } from '../sys/atomic.js';

export interface ArchiveMember {
  /** The cleaned name (`a/b`, never `./a/b`). */
  readonly name: string;
  readonly type: TarEntryType;
  /** Offset of the first content byte in the (uncompressed) tar file. */
  readonly offset: number;
  /** Content bytes; 0 for anything but a file. */
  readonly size: number;
  /** Symlink target (verbatim) or hardlink target (cleaned). */
  readonly linkname?: string;
  /** sha256 of the content: files only, and only when the index was opened with `hash`. */
  readonly digest?: Digest;
}

export interface OpenArchiveOptions {
  /** Hash every file member during the scan. */
  readonly hash?: boolean;
  /**
   * Where a compressed archive is decompressed before it is indexed. Needed only for a
   * compressed archive; opening one without it fails with 'invalid-argument'.
   */
  readonly tmpDir?: string;
}

/** Symlink hops `resolve` follows before calling it a loop (Linux's MAXSYMLINKS). */
const MAX_HOPS = 40;

export class ArchiveIndex {
  /** The archive as the caller named it (messages use it). */
  readonly file: string;
  /** How the archive file itself was compressed. */
  readonly compression: Compression;
  readonly #tarPath: string;
  readonly #tempDir: string | undefined;
  readonly #members: Map<string, ArchiveMember>;
  #closed = false;

  private constructor(file: string, compression: Compression, tarPath: string, tempDir: string | undefined, members: Map<string, ArchiveMember>) {
    this.file = file;
    this.compression = compression;
    this.#tarPath = tarPath;
    this.#tempDir = tempDir;
    this.#members = members;
  }

  /**
   * Indexes the tar file `file`. A malformed or truncated archive fails with 'invalid-archive'
   * naming the file; a missing file with 'not-found'.
   *
   * @example
   * const archive = await ArchiveIndex.open('image.tar', { hash: true });
   * const manifest = await archive.readMember(archive.require('manifest.json', 'the image list'));
   */
  static async open(file: string, options: OpenArchiveOptions = {}): Promise<ArchiveIndex> {
    const compression = await sniffFile(file);
    let tarPath = file;
    let tempDir: string | undefined;
    try {
      if (compression !== 'none') {
        if (options.tmpDir === undefined) {
          throw new CairnError('invalid-argument', `${file} is ${compression}-compressed: a temp directory is needed to read it`, {
            file,
            compression,
          });
        }
        tempDir = await mkdtemp(path.join(options.tmpDir, 'archive-'));
        tarPath = path.join(tempDir, 'archive.tar');
        const { stream } = await decompressStream(createReadStream(file), { what: file });
        await pipeline(stream, createWriteStream(tarPath, { flags: 'wx' }));
      }
      const members = await scan(tarPath, file, options.hash === true);
      return new ArchiveIndex(file, compression, tarPath, tempDir, members);
    } catch (err) {
      if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Every member, in archive order (later duplicates replace earlier ones). */
  members(): IterableIterator<ArchiveMember> {
    return this.#members.values();
  }

  /** The member stored under `name`, without following links. */
  entry(name: string): ArchiveMember | undefined {
    return this.#members.get(cleanPath(name));
  }

  /**
   * The file member that holds the bytes of `name`, following symlinks and hardlinks; undefined
   * when `name` or a link target is absent. A link loop, or a name that is a directory or a
   * device, fails with 'invalid-archive'.
   */
  resolve(name: string): ArchiveMember | undefined {
    let current = cleanPath(name);
    for (let hop = 0; hop <= MAX_HOPS; hop++) {
      const member = this.#members.get(current);
      if (member === undefined) return undefined;
      if (member.type === 'file') return member;
      const target = member.linkname ?? '';
      if (member.type === 'hardlink') current = target;
      else if (member.type === 'symlink') {
        current = cleanPath(target.startsWith('/') ? target : path.posix.join(path.posix.dirname(current), target));
      } else {
        throw this.#invalid(`member ${name} is a ${member.type}, not a file`, { member: name });
      }
    }
    throw this.#invalid(`member ${name}: too many levels of links`, { member: name });
  }

  /** Like `resolve`, but a missing member fails with 'invalid-archive' saying what it was for. */
  require(name: string, role: string): ArchiveMember {
    const member = this.resolve(name);
    if (member === undefined) {
      const stored = this.entry(name);
      const why = stored?.linkname !== undefined ? ` (it links to ${stored.linkname}, which is absent)` : '';
      throw this.#invalid(`${role} ${name} is missing${why}`, { member: name });
    }
    return member;
  }

  /** The member's bytes as a stream read from the file at its offset. */
  openMember(member: ArchiveMember): Readable {
    this.#checkOpen();
    if (member.size === 0) return Readable.from([]);
    return createReadStream(this.#tarPath, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 1 << 20 });
  }

  /** The member's bytes in memory; refuses members larger than `maxSize` (documents, not layers). */
  async readMember(member: ArchiveMember, maxSize = 16 << 20): Promise<Buffer> {
    this.#checkOpen();
    if (member.size > maxSize) {
      throw this.#invalid(`member ${member.name} is ${member.size} bytes, more than the ${maxSize} allowed for a document`, {
        member: member.name,
      });
    }
    return this.readRange(member, 0, member.size);
  }

  /** Up to `length` bytes of the member from `start` (for sniffing magic numbers). */
  async readRange(member: ArchiveMember, start: number, length: number): Promise<Buffer> {
    this.#checkOpen();
    const want = Math.max(0, Math.min(length, member.size - start));
    const buffer = Buffer.alloc(want);
    if (want === 0) return buffer;
    const handle = await open(this.#tarPath, 'r');
    try {
      let done = 0;
      while (done < want) {
        const { bytesRead } = await handle.read(buffer, done, want - done, member.offset + start + done);
        if (bytesRead === 0) throw this.#invalid(`member ${member.name} is cut short (the file changed since it was indexed?)`, { member: member.name });
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return buffer;
  }

  /** Removes the decompressed copy, if any. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#tempDir !== undefined) await rm(this.#tempDir, { recursive: true, force: true });
  }

  #checkOpen(): void {
    if (this.#closed) throw new CairnError('conflict', `${this.file}: archive already closed`, { file: this.file });
  }

  #invalid(message: string, data: Record<string, unknown>): CairnError {
    return new CairnError('invalid-archive', `${this.file}: ${message}`, { file: this.file, ...data });
  }
}

/** The compression of the file from its first bytes; a missing file is 'not-found'. */
async function sniffFile(file: string): Promise<Compression> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new CairnError('not-found', `${file}: no such file`, { file }, { cause: err });
    if (errnoCode(err) === 'EISDIR') throw new CairnError('invalid-archive', `${file} is a directory, not an archive`, { file });
    throw err;
  }
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (bytesRead === 0) throw new CairnError('invalid-archive', `${file} is empty, not an archive`, { file });
    // decompressStream also refuses xz and bzip2 by magic; a plain tar is detected as 'none'.
    const { compression, stream } = await decompressStream(Readable.from([head.subarray(0, bytesRead)]), { what: file });
    stream.destroy();
    return compression;
  } finally {
    await handle.close();
  }
}

async function scan(tarPath: string, file: string, hash: boolean): Promise<Map<string, ArchiveMember>> {
  const members = new Map<string, ArchiveMember>();
  const input = createReadStream(tarPath, { highWaterMark: 1 << 20 });
  try {
    for await (const { entry, body } of tarEntries(input, { what: file })) {
      let digest: Digest | undefined;
      if (hash && entry.type === 'file') {
        const hasher = nodeSha256();
        for await (const chunk of body) hasher.update(chunk as Buffer);
        digest = hasher.digest();
      }
      const member: ArchiveMember = {
        name: entry.path,
        type: entry.type,
        offset: entry.offset,
        size: entry.size,
        ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
        ...(digest !== undefined ? { digest } : {}),
      };
      members.delete(entry.path); // so iteration order is that of the member that wins
      members.set(entry.path, member);
    }
  } finally {
    input.destroy();
  }
  return members;
}

/** One member to write: a body in memory, or a function opening its stream when its turn comes. */
export interface ArchiveItem {
  readonly entry: TarEntryInit;
  readonly body?: Uint8Array | (() => Readable);
}

/**
 * Writes `items` in the order given as a tar (src/tar's deterministic writer) to `file`: a
 * temp file in the same directory, fsynced, then renamed over `file`. On failure the temp file
 * is removed and `file` is left as it was.
 */
export async function writeArchiveAtomic(file: string, items: readonly ArchiveItem[]): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const bodies = function* (): Generator<{ entry: TarEntryInit; body?: TarBody }> {
    for (const item of items) {
      const body = typeof item.body === 'function' ? item.body() : item.body;
      yield body === undefined ? { entry: item.entry } : { entry: item.entry, body };
    }
  };
  await replaceVia(file, async (temp) => {
    await pipeline(packTar(bodies()), createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    await fsyncPath(temp);
  });
  await fsyncDir(dir);
}
