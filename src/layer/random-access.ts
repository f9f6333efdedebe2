/**
 * @module layer/random-access
 * Reading a range of a layer's uncompressed tar (one file's content, at the offset its index
 * entry gives) without decompressing the whole layer on every read.
 *
 * Design, and why. gzip cannot be entered in the middle: deflate blocks start at arbitrary
 * *bit* offsets and refer back up to 32 KiB. zran (zlib's examples/zran.c) records, during one
 * full pass, the bit offset of some block boundaries plus the 32 KiB window before each, then
 * restarts inflate there with `inflatePrime` + `inflateSetDictionary`. Node's zlib takes a
 * dictionary (`createInflateRaw({ dictionary })`) but neither reports block boundaries nor
 * exposes `inflatePrime`, so the checkpoints cannot be found without a deflate parser in JS
 * (i.e. a second inflater, ~5x slower). zstd is worse: a block may reuse the previous block's
 * entropy tables, so a frame cannot be entered mid-way at all. So instead:
 *
 * - plain tar blobs need nothing: a read is a `pread` of the blob at the entry's offset;
 * - small compressed layers (< `SEEKABLE_MIN_SIZE` uncompressed) are decompressed from the
 *   start up to the end of the range and the pass stops there: bounded by the threshold;
 * - larger compressed layers get a *seekable cache*, written once from one decompression pass
 *   (during the index pass when asked, else on the first read): the uncompressed tar cut into
 *   1 MiB pieces, each an independent zstd frame (level 1), followed by a seek table, in the
 *   zstd seekable format (facebook/zstd contrib/seekable_format), so `zstd -d` reads it as the
 *   plain tar. A read then decompresses only the frames covering its range (<= 2 MiB for a
 *   small file), and a reader keeps the last few frames decompressed in memory.
 *
 * The cache costs about the compressed size of the layer on disk, under
 * `cairn/cache/seekable/<diffID hex>.tar.zst`. It is derived data: written to `cairn/tmp`,
 * checked against the diffID, then renamed into place; any of them may be deleted at any time.
 * Readers of file contents verify each file's sha256 from the index (the union view does), so a
 * damaged cache cannot hand out wrong bytes unnoticed. On a store we cannot write to, reads fall
 * back to decompressing from the start.
 *
 * Decompression work is reported through `onDecompress(bytes)` so tests can count it.
 */
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomHex } from '../sys/crypto.js';
import { digestHex, type Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import { decompressStream, scanLayer, type Compression } from '../tar/index.js';
import { zstd } from '../tar/zstd.js';
import type { Store } from '../store/store.js';

/** Uncompressed bytes per frame of the seekable cache. */
export const SEEKABLE_CHUNK = 1 << 20;
/** Compressed layers smaller than this (uncompressed) are read from the start instead. */
export const SEEKABLE_MIN_SIZE = 4 << 20;

const SKIPPABLE_MAGIC = 0x184d2a5e;
const SEEKABLE_MAGIC = 0x8f92eab1;
const FOOTER = 9;

/** What random access needs to know about a layer (from its descriptor and index/record). */
export interface LayerBlob {
  /** The blob as stored (compressed digest). */
  readonly digest: Digest;
  readonly diffId: Digest;
  /** Uncompressed tar size. */
  readonly size: number;
  readonly compression: Compression;
}

export interface RandomAccessOptions {
  /** Called with the number of uncompressed bytes each decompression step produced. */
  onDecompress?: (bytes: number) => void;
  /** Write the seekable cache when it is missing (default true). */
  writeCache?: boolean;
  /** Frames kept decompressed in memory per layer (default 4). */
  keepFrames?: number;
}

/** Where the seekable cache of a layer lives (whether or not it exists). */
export function seekableCachePath(store: Store, diffId: Digest): string {
  return path.join(store.paths.cache, 'seekable', `${digestHex(diffId)}.tar.zst`);
}

/**
 * Writes a seekable cache from the uncompressed tar, chunk by chunk, into `cairn/tmp`;
 * `commit(diffId)` checks the diffID the caller computed and renames it into place.
 */
export class SeekableWriter {
  readonly #handle: FileHandle;
  readonly #temp: string;
  readonly #target: string;
  readonly #compressor = new (zstd().Compressor)();
  readonly #frames: [compressed: number, uncompressed: number][] = [];
  #pending: Uint8Array[] = [];
  #pendingSize = 0;
  #position = 0;

  private constructor(handle: FileHandle, temp: string, target: string) {
    this.#handle = handle;
    this.#temp = temp;
    this.#target = target;
    this.#compressor.setParameters({ compressionLevel: 1, contentSizeFlag: true });
  }

  static async create(store: Store, diffId: Digest): Promise<SeekableWriter> {
    await mkdir(store.paths.tmp, { recursive: true });
    const temp = path.join(store.paths.tmp, `seekable-${randomHex(8)}`);
    return new SeekableWriter(await open(temp, 'wx', 0o644), temp, seekableCachePath(store, diffId));
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#pending.push(chunk);
    this.#pendingSize += chunk.length;
    while (this.#pendingSize >= SEEKABLE_CHUNK) await this.#flushFrame(SEEKABLE_CHUNK);
  }

  async #flushFrame(size: number): Promise<void> {
    const all = Buffer.concat(this.#pending, this.#pendingSize);
    const frame = all.subarray(0, size);
    this.#pending = all.length > size ? [all.subarray(size)] : [];
    this.#pendingSize = all.length - size;
    const compressed = this.#compressor.compress(frame);
    await this.#write(compressed);
    this.#frames.push([compressed.length, frame.length]);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.#handle.write(bytes, done, bytes.length - done, this.#position);
      done += bytesWritten;
      this.#position += bytesWritten;
    }
  }

  /** Writes the seek table, fsyncs and renames the cache into place. */
  async commit(): Promise<void> {
    try {
      if (this.#pendingSize > 0) await this.#flushFrame(this.#pendingSize);
      await this.#write(seekTable(this.#frames));
      await this.#handle.sync();
      await this.#handle.close();
      await mkdir(path.dirname(this.#target), { recursive: true });
      await rename(this.#temp, this.#target);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    await rm(this.#temp, { force: true });
  }
}

function seekTable(frames: readonly [number, number][]): Buffer {
  const table = Buffer.alloc(8 + frames.length * 8 + FOOTER);
  table.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  table.writeUInt32LE(frames.length * 8 + FOOTER, 4);
  frames.forEach(([c, d], i) => {
    table.writeUInt32LE(c, 8 + i * 8);
    table.writeUInt32LE(d, 12 + i * 8);
  });
  const footer = 8 + frames.length * 8;
  table.writeUInt32LE(frames.length, footer);
  table.writeUInt8(0, footer + 4); // no checksums
  table.writeUInt32LE(SEEKABLE_MAGIC, footer + 5);
  return table;
}

/** A frame of the cache: where its compressed bytes are and which uncompressed bytes it holds. */
interface Frame {
  readonly at: number;
  readonly compressed: number;
  readonly start: number;
  readonly size: number;
}

/** Reads and checks the seek table; undefined when the file is missing, damaged or not ours. */
async function readSeekTable(file: string, expectedSize: number): Promise<Frame[] | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size < 8 + FOOTER) return undefined;
    const footer = Buffer.alloc(FOOTER);
    await handle.read(footer, 0, FOOTER, size - FOOTER);
    if (footer.readUInt32LE(5) !== SEEKABLE_MAGIC || (footer.readUInt8(4) & 0x80) !== 0) return undefined;
    const count = footer.readUInt32LE(0);
    const tableSize = 8 + count * 8 + FOOTER;
    if (tableSize > size) return undefined;
    const table = Buffer.alloc(tableSize);
    await handle.read(table, 0, tableSize, size - tableSize);
    if (table.readUInt32LE(0) !== SKIPPABLE_MAGIC || table.readUInt32LE(4) !== tableSize - 8) return undefined;
    const frames: Frame[] = [];
    let at = 0;
    let start = 0;
    for (let i = 0; i < count; i++) {
      const compressed = table.readUInt32LE(8 + i * 8);
      const frameSize = table.readUInt32LE(12 + i * 8);
      frames.push({ at, compressed, start, size: frameSize });
      at += compressed;
      start += frameSize;
    }
    return at === size - tableSize && start === expectedSize ? frames : undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Random access to one layer's uncompressed tar.
 *
 * @example
 * const content = new LayerContent(store, { digest, diffId, size, compression });
 * const bytes = await content.read(entry.offset, entry.size);
 */
export class LayerContent {
  readonly #store: Store;
  readonly #blob: LayerBlob;
  readonly #options: RandomAccessOptions;
  readonly #recent = new Map<number, Buffer>();
  #frames: Promise<Frame[] | undefined> | undefined;

  constructor(store: Store, blob: LayerBlob, options: RandomAccessOptions = {}) {
    this.#store = store;
    this.#blob = blob;
    this.#options = options;
  }

  /** `length` bytes at `offset` of the uncompressed tar. */
  async read(offset: number, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of this.#range(offset, length)) parts.push(part);
    return Buffer.concat(parts, length);
  }

  /** The same bytes as a stream (large files are never held whole). */
  stream(offset: number, length: number): Readable {
    return Readable.from(this.#range(offset, length), { objectMode: false });
  }

  /**
   * Makes sure the seekable cache exists (compressed layers of at least `SEEKABLE_MIN_SIZE`);
   * true when reads will use it.
   */
  async ensureSeekable(): Promise<boolean> {
    return (await this.#seekable()) !== undefined;
  }

  #range(offset: number, length: number): AsyncGenerator<Buffer> {
    const end = offset + length;
    if (offset < 0 || length < 0 || end > this.#blob.size) {
      throw new CairnError('invalid-argument', `range ${offset}+${length} is outside layer ${this.#blob.diffId}`, {
        diffId: this.#blob.diffId,
        offset,
        length,
      });
    }
    if (this.#blob.compression === 'none') return this.#fromBlob(offset, end);
    return this.#fromCompressed(offset, end);
  }

  async *#fromBlob(offset: number, end: number): AsyncGenerator<Buffer> {
    const handle = await open(this.#store.blobs.path(this.#blob.digest), 'r');
    try {
      let at = offset;
      while (at < end) {
        const want = Math.min(end - at, 1 << 20);
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(want), 0, want, at);
        if (bytesRead === 0) throw truncated(this.#blob, at);
        at += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  async *#fromCompressed(offset: number, end: number): AsyncGenerator<Buffer> {
    if (offset === end) return;
    const frames = await this.#seekable();
    if (frames) yield* this.#fromCache(frames, offset, end);
    else yield* this.#fromStart(offset, end);
  }

  #seekable(): Promise<Frame[] | undefined> {
    if (this.#blob.compression === 'none' || this.#blob.size < SEEKABLE_MIN_SIZE) return Promise.resolve(undefined);
    this.#frames ??= this.#loadOrBuild();
    return this.#frames;
  }

  async #loadOrBuild(): Promise<Frame[] | undefined> {
    const file = seekableCachePath(this.#store, this.#blob.diffId);
    const existing = await readSeekTable(file, this.#blob.size);
    if (existing || this.#options.writeCache === false) return existing;
    try {
      await writeSeekableCache(this.#store, this.#blob, this.#options);
    } catch (err) {
      // A read-only store (or a full disk) still reads, the slow way.
      if (['EACCES', 'EROFS', 'EPERM', 'ENOSPC'].includes(errnoCode(err) ?? '')) return undefined;
      throw err;
    }
    return readSeekTable(file, this.#blob.size);
  }

  async *#fromCache(frames: readonly Frame[], offset: number, end: number): AsyncGenerator<Buffer> {
    let i = frameAt(frames, offset);
    let handle: FileHandle | undefined;
    try {
      for (let at = offset; at < end; i++) {
        const frame = frames[i];
        if (!frame) throw truncated(this.#blob, at);
        let data = this.#recent.get(i);
        if (!data) {
          handle ??= await open(seekableCachePath(this.#store, this.#blob.diffId), 'r');
          const compressed = Buffer.alloc(frame.compressed);
          await handle.read(compressed, 0, frame.compressed, frame.at);
          data = zstd().decompress(compressed);
          this.#options.onDecompress?.(data.length);
          if (data.length !== frame.size) throw truncated(this.#blob, frame.start);
          this.#remember(i, data);
        }
        const from = at - frame.start;
        const to = Math.min(end, frame.start + frame.size) - frame.start;
        yield data.subarray(from, to);
        at = frame.start + to;
      }
    } finally {
      await handle?.close();
    }
  }

  #remember(i: number, data: Buffer): void {
    const keep = this.#options.keepFrames ?? 4;
    if (keep <= 0) return;
    this.#recent.delete(i);
    this.#recent.set(i, data);
    while (this.#recent.size > keep) this.#recent.delete(this.#recent.keys().next().value as number);
  }

  async *#fromStart(offset: number, end: number): AsyncGenerator<Buffer> {
    const blob = await this.#store.blobs.open(this.#blob.digest);
    const { stream } = await decompressStream(blob, { what: `layer ${this.#blob.digest}` });
    let at = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        this.#options.onDecompress?.(chunk.length);
        const chunkEnd = at + chunk.length;
        if (chunkEnd > offset) yield chunk.subarray(Math.max(0, offset - at), Math.min(chunk.length, end - at));
        at = chunkEnd;
        if (at >= end) return;
      }
      throw truncated(this.#blob, at);
    } finally {
      stream.destroy();
    }
  }
}

function frameAt(frames: readonly Frame[], offset: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((frames[mid] as Frame).start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function truncated(blob: LayerBlob, at: number): CairnError {
  return new CairnError('invalid-archive', `layer ${blob.digest}: content ends before byte ${at}`, {
    digest: blob.digest,
    offset: at,
  });
}

/**
 * Writes the seekable cache of a compressed layer from one decompression pass of its blob,
 * checking the blob digest and the diffID before the cache becomes visible.
 */
export async function writeSeekableCache(store: Store, blob: LayerBlob, options: RandomAccessOptions = {}): Promise<void> {
  const writer = await SeekableWriter.create(store, blob.diffId);
  try {
    const what = `layer ${blob.digest}`;
    const scanned = await scanLayer(await store.blobs.open(blob.digest), {
      what,
      consume: async (tar) => {
        for await (const chunk of tar as AsyncIterable<Buffer>) {
          options.onDecompress?.(chunk.length);
          await writer.write(chunk);
        }
      },
    });
    if (scanned.digest !== blob.digest || scanned.diffId !== blob.diffId) {
      throw new CairnError('digest-mismatch', `${what}: content does not match its digest or diffID`, {
        what,
        expected: blob.diffId,
        actual: scanned.diffId,
      });
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.commit();
}

/** True when the seekable cache of `diffId` exists (it may still be checked and rebuilt on use). */
export async function hasSeekableCache(store: Store, diffId: Digest): Promise<boolean> {
  try {
    await stat(seekableCachePath(store, diffId));
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}
