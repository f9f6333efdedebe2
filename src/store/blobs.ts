/**
 * @module store/blobs
 * Content-addressed blobs under `blobs/<alg>/<hex>` (OCI image layout). The contract, after
 * containerd's content store:
 * - a blob is invisible until it is committed: bytes stream into `cairn/tmp`, are hashed and
 *   counted on the way, checked against the expected digest and size, fsynced and made
 *   read-only, then renamed into place in one step, and the directory fsynced;
 * - "already exists" is success, and a put of a blob we already hold does not read its source;
 * - the staging file is removed whatever happens, so a failed put leaves nothing behind (a
 *   process killed mid-put leaves only an orphan in `cairn/tmp`, which no reader looks at).
 */
import { closeSync, createReadStream, createWriteStream, fchmodSync, fstatSync, openSync, readSync, renameSync } from 'node:fs';
import { mkdir, rm, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, pipeline as pipelineCallback, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestAlgorithm, digestHex, digestOf, isDigest, nodeSha256, type Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import { createWithData, fsyncDir, fsyncFd, uniqueHex } from '../sys/atomic.js';

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
      const existing = await this.stat(options.digest);
      if (existing !== undefined && (options.size === undefined || existing === options.size)) {
        if (source instanceof Readable) source.destroy();
        return present(options.digest, existing);
      }
    }
    const temp = await this.#tempPath();
    let written: WrittenTemp;
    try {
      written = source instanceof Uint8Array ? await writeBytes(temp, source, what, options) : await writeStream(temp, source, what, options);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    const { digest, size, sealed } = written;
    let settled = false;
    return {
      digest,
      size,
      commit: async () => {
        if (settled) return;
        settled = true;
        try {
          await sealed;
          await this.#commit(temp, digest);
        } catch (err) {
          await rm(temp, { force: true });
          throw err;
        }
      },
      discard: async () => {
        if (settled) return;
        settled = true;
        await sealed.catch(() => undefined);
        await rm(temp, { force: true });
      },
    };
  }

  /** A batch of blobs that become visible together (see `BlobBatch`). */
  batch(): BlobBatch {
    return new BlobBatch(this);
  }

  /** The commit point: one rename makes the (sealed: durable, read-only) blob visible. */
  async #commit(temp: string, digest: Digest): Promise<void> {
    const target = this.path(digest);
    const dir = path.dirname(target);
    await this.#ensureDir(dir);
    renameSync(temp, target);
    // The new name must be durable before anything (index.json) can point at it: on an ext4
    // without a journal, as on this project's VMs, a later fsync of the store root does not
    // carry the rename with it. Blobs of one batch share the directory, so one fsync covers all.
    await fsyncDir(dir);
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

/** A temp file written and verified; `sealed` settles once it is durable and read-only. */
interface WrittenTemp extends BlobRef {
  readonly sealed: Promise<void>;
}

/** Writes bytes whose digest is known before the first write: a mismatch writes nothing. */
async function writeBytes(temp: string, bytes: Uint8Array, what: string, expected: PutOptions): Promise<WrittenTemp> {
  const digest = digestOf(bytes);
  checkExpected(what, digest, bytes.length, expected);
  return { digest, size: bytes.length, sealed: seal(await createWithData(temp, bytes, 0o644)) };
}

async function writeStream(temp: string, source: Readable, what: string, expected: PutOptions): Promise<WrittenTemp> {
  // Loaded here: DigestStream extends node:stream's Transform, which every store user would
  // otherwise load at start (~4 ms) to read a few small files.
  const { DigestStream } = await import('../digest/stream.js');
  const hashing = new DigestStream(nodeSha256);
  const out = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
  if (expected.size !== undefined) await pipeline(source, sizeLimit(what, expected.size), hashing, out);
  else await pipeline(source, hashing, out);
  const digest = hashing.digest;
  if (digest === undefined) throw new Error('digest stream ended without a digest');
  checkExpected(what, digest, hashing.size, expected);
  // The write stream has closed its descriptor (see FileHandle.createWriteStream: with autoClose
  // off it keeps the handle referenced and `close()` never settles), so the seal opens the file
  // again; fsync and fchmod work on a read-only descriptor.
  return { digest, size: hashing.size, sealed: seal(openSync(temp, 'r')) };
}

/**
 * fsync (in the background: the returned promise is already handled, an error surfaces where it
 * is awaited), then read-only (0444 whatever the umask), then close.
 */
function seal(fd: number): Promise<void> {
  const sealing = (async () => {
    try {
      await fsyncFd(fd);
      fchmodSync(fd, 0o444);
    } finally {
      closeSync(fd);
    }
  })();
  sealing.catch(() => undefined);
  return sealing;
}

/**
 * Blobs written together and made visible together, for small sets written in one go (commit:
 * layer, config, manifest). Each `put` streams, hashes and verifies its bytes into `cairn/tmp`
 * as `BlobStore.put` does, its fsync starting in the background as soon as it is written, so
 * the fsyncs of a batch overlap each other and the work between the puts instead of running one
 * after another (they are most of a small commit's time); `commit()` waits for them and renames
 * each blob into place. The contract is the store's: no blob is visible before its bytes are
 * durable and verified. Until `commit()` the blobs are invisible; `discard()` (or a process
 * death) leaves none behind.
 *
 * @example
 * const batch = store.blobs.batch();
 * const config = await batch.put(configBytes);
 * await batch.commit();
 */
export class BlobBatch implements BlobSink {
  readonly #blobs: BlobStore;
  readonly #staged: StagedBlob[] = [];

  constructor(blobs: BlobStore) {
    this.#blobs = blobs;
  }

  async put(source: Readable | Uint8Array, options: PutOptions = {}): Promise<BlobRef> {
    const staged = await this.#blobs.stage(source, options);
    this.#staged.push(staged);
    return { digest: staged.digest, size: staged.size };
  }

  /** Makes every staged blob durable and visible. */
  async commit(): Promise<void> {
    await Promise.all(this.#staged.splice(0).map((s) => s.commit()));
  }

  /** Drops every staged blob not yet committed. */
  async discard(): Promise<void> {
    await Promise.all(this.#staged.splice(0).map((s) => s.discard()));
  }
}

function checkExpected(what: string, digest: Digest, size: number, expected: PutOptions): void {
  if (expected.size !== undefined && size !== expected.size) {
    throw new CairnError('size-mismatch', `${what}: expected ${expected.size} bytes, got ${size}`, {
      what,
      expected: expected.size,
      actual: size,
    });
  }
  if (expected.digest !== undefined && digest !== expected.digest) throw mismatch(what, expected.digest, digest);
}

function mismatch(what: string, expected: Digest, actual: Digest): CairnError {
  return new CairnError('digest-mismatch', `${what}: content does not match its digest ${expected} (it hashes to ${actual})`, {
    what,
    expected,
    actual,
  });
}

export function blobNotFound(digest: Digest): CairnError {
  return new CairnError('not-found', `blob ${digest} is not in the store`, { digest });
}

/** Fails as soon as more bytes than promised arrive, so a lying source cannot fill the disk. */
function sizeLimit(what: string, size: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > size) {
        callback(new CairnError('size-mismatch', `${what}: more than the ${size} bytes expected`, { what, expected: size }));
        return;
      }
      callback(null, chunk);
    },
  });
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
