/**
 * @module store/blobs
 * Content-addressed blobs under `blobs/<alg>/<hex>` (OCI image layout). The contract, after
 * containerd's content store:
 * - a blob is invisible until it is committed: bytes stream into `cairn/tmp`, are hashed and
 *   counted on the way, checked against the expected digest and size, made read-only and
 *   fsynced, then renamed into place in one step, and the directory fsynced;
 * - "already exists" is success: a put of a blob we already hold does not read its source (when
 *   its digest is given) or write anything (bytes in memory, hashed first);
 * - the staging file is removed whatever happens, so a failed put leaves nothing behind (a
 *   process killed mid-put leaves only an orphan in `cairn/tmp`, which no reader looks at).
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { mkdir, rm, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, pipeline as pipelineCallback, type TransformCallback } from 'node:stream';
import { digestAlgorithm, digestHex, digestOf, isDigest, nodeSha256, type Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import { createWithData, fsyncDir, uniqueHex } from '../sys/atomic.js';
import { BlobBatch } from './blob-batch.js';
import { checkExpected, mismatch, seal, StagedTemp, writeStream, type WrittenTemp } from './blob-staging.js';

export interface BlobRef {
  readonly digest: Digest;
  readonly size: number;
}

/** Bytes verified and waiting in `cairn/tmp`; invisible until `commit()`. */
export interface StagedBlob extends BlobRef {
  /** One rename makes the blob visible. Idempotent. */
  commit(): Promise<void>;
  /** Removes the staged bytes. Idempotent; a no-op after commit. */
  discard(): Promise<void>;
}

/** A "staged" blob the store already had: nothing to commit or discard. */
function present(digest: Digest, size: number): StagedBlob {
  return { digest, size, commit: async () => {}, discard: async () => {} };
}

export interface PutOptions {
  /** The digest the bytes must have. Without it the blob is stored under whatever they hash to. */
  digest?: Digest;
  /** The size the bytes must have. */
  size?: number;
  /** Names the source in error messages ("layer 3 of oci:/tmp/x:1"). */
  what?: string;
}

/** Where new blobs go: the store itself (`BlobStore`), or a `BlobBatch` committed as one. */
export interface BlobSink {
  put(source: Readable | Uint8Array, options?: PutOptions): Promise<BlobRef>;
}

export interface ReadOptions {
  /** Hash while reading and fail at the end if the bytes do not match the digest. */
  verify?: boolean;
}

export class BlobStore {
  readonly #root: string;
  readonly #tmp: string;
  /** Directories this process made or found: each put would otherwise `mkdir` two of them again. */
  readonly #dirsMade = new Set<string>();
  /** `#place`, for the blobs this store stages. */
  readonly #placer = (temp: string, digest: Digest): Promise<string> => this.#place(temp, digest);

  constructor(layoutRoot: string, tmpDir: string) {
    this.#root = path.join(layoutRoot, 'blobs');
    this.#tmp = path.resolve(tmpDir);
  }

  /** Where a blob lives (whether or not it exists). */
  path(digest: Digest): string {
    // Not path.join: both parts of a valid digest are plain names, and the root is normalised.
    return `${this.#root}/${digestAlgorithm(digest)}/${digestHex(digest)}`;
  }

  /** The blob's size, or undefined when the store does not have it. */
  async stat(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * Stores bytes from `source`. When `options.digest` is given and the blob already exists the
   * source is not read (a stream source is destroyed), which makes re-imports cheap.
   */
  async put(source: Readable | Uint8Array, options: PutOptions = {}): Promise<BlobRef> {
    const staged = await this.stage(source, options);
    await staged.commit();
    return { digest: staged.digest, size: staged.size };
  }

  /**
   * Writes and verifies bytes in `cairn/tmp` without making them visible. A copy stages every
   * blob of an image first and commits them only when all verified, so a bad source adds
   * nothing to the store. `discard()` (or a process death) leaves no blob behind.
   *
   * Once the bytes are written and verified their fsync (and the change to read-only) starts at
   * once, in the background: whatever the caller does next — write the next blob, read a
   * document — overlaps it, and `commit()` waits for it before the rename.
   */
  async stage(source: Readable | Uint8Array, options: PutOptions = {}): Promise<StagedBlob> {
    const what = options.what ?? 'blob';
    if (options.digest !== undefined && digestAlgorithm(options.digest) !== 'sha256') {
      if (source instanceof Readable) source.destroy();
      throw new CairnError('unsupported', `${what}: cannot verify ${options.digest}: cairn stores sha256 blobs only`, { what });
    }
    if (options.digest !== undefined) {
      const existing = this.#sizeIfPresent(options.digest);
      if (existing !== undefined && (options.size === undefined || existing === options.size)) {
        if (source instanceof Readable) source.destroy();
        return present(options.digest, existing);
      }
    }
    return source instanceof Uint8Array ? this.#stageBytes(source, what, options) : this.#stageStream(source, what, options);
  }

  /**
   * Bytes in memory are hashed before anything is written, so a blob we hold already (a commit
   * of the same change, a layer built before) is neither written nor renamed over: replacing a
   * file frees its blocks, which on an ext4 mounted with `discard` and no journal (this
   * project's VMs) waits for the disk, for milliseconds.
   */
  async #stageBytes(bytes: Uint8Array, what: string, options: PutOptions): Promise<StagedBlob> {
    const digest = digestOf(bytes);
    checkExpected(what, digest, bytes.length, options);
    if (this.#sizeIfPresent(digest) === bytes.length) return present(digest, bytes.length);
    const temp = await this.#tempPath();
    // A failed write removes the file it created.
    const fd = await createWithData(temp, bytes, 0o644);
    return new StagedTemp({ digest, size: bytes.length, sealed: seal(fd) }, temp, this.#placer);
  }

  async #stageStream(source: Readable, what: string, options: PutOptions): Promise<StagedBlob> {
    const temp = await this.#tempPath();
    let written: WrittenTemp;
    try {
      written = await writeStream(temp, source, what, options);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return new StagedTemp(written, temp, this.#placer);
  }

  /**
   * Makes staged blobs visible, each once it is durable, and their names durable with one fsync
   * per directory (one for a batch of sha256 blobs) instead of one per blob. Waits for every
   * blob, then fails with the first error, if any.
   */
  async commitAll(staged: readonly StagedBlob[]): Promise<void> {
    const results = await Promise.allSettled(staged.map((blob) => (blob instanceof StagedTemp ? blob.publish() : blob.commit().then(() => undefined))));
    const dirs = new Set<string>();
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason;
      if (result.value !== undefined) dirs.add(result.value);
    }
    await Promise.all([...dirs].map((dir) => fsyncDir(dir)));
  }

  /** A batch of blobs that become visible together (see `BlobBatch`, ./blob-batch.ts). */
  batch(): BlobBatch {
    return new BlobBatch(this);
  }

  /**
   * The commit point: one rename makes the (sealed: durable, read-only) blob visible. Returns the
   * directory to fsync next: the new name must be durable before anything (index.json) can point
   * at it, and on an ext4 without a journal, as on this project's VMs, a later fsync of the store
   * root does not carry the rename with it.
   */
  async #place(temp: string, digest: Digest): Promise<string> {
    const target = this.path(digest);
    const dir = path.dirname(target);
    await this.#ensureDir(dir);
    renameSync(temp, target);
    return dir;
  }

  /** The size of a blob the store holds, or undefined. (Synchronous: one stat, see sys/atomic.) */
  #sizeIfPresent(digest: Digest): number | undefined {
    return statSync(this.path(digest), { throwIfNoEntry: false })?.size;
  }

  async #tempPath(): Promise<string> {
    await this.#ensureDir(this.#tmp);
    return `${this.#tmp}/ingest-${uniqueHex()}`;
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#dirsMade.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.#dirsMade.add(dir);
  }

  /** A stream of the blob. With `verify`, the stream errors at its end when the bytes are wrong. */
  async open(digest: Digest, options: ReadOptions = {}): Promise<Readable> {
    const file = this.path(digest);
    const size = await this.stat(digest);
    if (size === undefined) throw blobNotFound(digest);
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    if (!options.verify) return stream;
    // Not `.pipe()`: a read error must reach the consumer, and a consumer that stops early must
    // close the file.
    const checked = verifier(digest);
    pipelineCallback(stream, checked, () => {});
    return checked;
  }

  /**
   * A whole blob in memory, for documents (manifests, configs), verified by default. Read with
   * synchronous calls (see sys/atomic for why): documents are small, and `maxSize` bounds them.
   */
  async readBytes(digest: Digest, options: ReadOptions & { maxSize?: number } = {}): Promise<Buffer> {
    const maxSize = options.maxSize ?? 64 << 20;
    let fd: number;
    try {
      fd = openSync(this.path(digest), 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw blobNotFound(digest);
      throw err;
    }
    let bytes: Buffer;
    try {
      const { size } = fstatSync(fd);
      if (size > maxSize) {
        throw new CairnError('invalid-argument', `blob ${digest} is ${size} bytes, more than the ${maxSize} allowed here`, {
          digest,
          size,
        });
      }
      bytes = readUpTo(fd, size);
    } finally {
      closeSync(fd);
    }
    if (options.verify !== false && digestOf(bytes) !== digest) throw mismatch(`blob ${digest}`, digest, digestOf(bytes));
    return bytes;
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await rm(this.path(digest));
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** Every blob digest the store holds (files whose names are not digests are skipped). */
  async *list(): AsyncGenerator<Digest> {
    let algorithms: string[];
    try {
      algorithms = await readdir(this.#root);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const algorithm of algorithms.sort()) {
      for (const hex of (await readdir(path.join(this.#root, algorithm))).sort()) {
        const candidate = `${algorithm}:${hex}`;
        if (isDigest(candidate)) yield candidate;
      }
    }
  }
}

/** The first `size` bytes of an open file (fewer if it ends sooner). */
function readUpTo(fd: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const read = readSync(fd, bytes, filled, size - filled, filled);
    if (read === 0) break;
    filled += read;
  }
  return bytes.subarray(0, filled);
}

export function blobNotFound(digest: Digest): CairnError {
  return new CairnError('not-found', `blob ${digest} is not in the store`, { digest });
}

/** A pass-through that checks the digest at the end of the stream. */
function verifier(digest: Digest): Transform {
  const hasher = nodeSha256();
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hasher.update(chunk);
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      const actual = hasher.digest();
      callback(actual === digest ? null : mismatch(`blob ${digest}`, digest, actual));
    },
  });
}
