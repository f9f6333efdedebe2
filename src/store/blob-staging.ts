/**
 * @module store/blob-staging
 * One blob on its way into a store (`BlobStore.stage`): bytes written to a file in `cairn/tmp`,
 * hashed, counted and checked on the way, then sealed — made read-only and fsynced in the
 * background — and, once sealed, renamed into `blobs/` (`StagedTemp.publish`). Whoever renames
 * fsyncs the directory afterwards: `commit()` for one blob, `BlobStore.commitAll` once for many.
 */
import { closeSync, createWriteStream, fchmodSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { nodeSha256, type Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import { fsyncDir, fsyncFd } from '../sys/atomic.js';
import type { BlobRef, PutOptions, StagedBlob } from './blobs.js';

/**
 * A blob staged in `cairn/tmp` by `BlobStore.stage`. `publish` is the rename alone, so that
 * `BlobStore.commitAll` can make the names of many blobs durable with one fsync of their
 * directory.
 */
export class StagedTemp implements StagedBlob {
  readonly digest: Digest;
  readonly size: number;
  readonly #temp: string;
  readonly #sealed: Promise<void>;
  readonly #place: (temp: string, digest: Digest) => Promise<string>;
  #settled = false;

  /** `place` renames the sealed temp file into place and returns the directory it went into. */
  constructor(written: WrittenTemp, temp: string, place: (temp: string, digest: Digest) => Promise<string>) {
    this.digest = written.digest;
    this.size = written.size;
    this.#sealed = written.sealed;
    this.#temp = temp;
    this.#place = place;
  }

  /** Waits until the bytes are durable and read-only, then renames them into place. */
  async publish(): Promise<string | undefined> {
    if (this.#settled) return undefined;
    this.#settled = true;
    try {
      await this.#sealed;
      return await this.#place(this.#temp, this.digest);
    } catch (err) {
      await rm(this.#temp, { force: true });
      throw err;
    }
  }

  async commit(): Promise<void> {
    const dir = await this.publish();
    if (dir !== undefined) await fsyncDir(dir);
  }

  async discard(): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    await this.#sealed.catch(() => undefined);
    await rm(this.#temp, { force: true });
  }
}

/** A temp file written and verified; `sealed` settles once it is durable and read-only. */
export interface WrittenTemp extends BlobRef {
  readonly sealed: Promise<void>;
}

export async function writeStream(temp: string, source: Readable, what: string, expected: PutOptions): Promise<WrittenTemp> {
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
 * Read-only (0444 whatever the umask), then fsync — in the background: the returned promise is
 * already handled, an error surfaces where it is awaited — then close. The mode is changed
 * first so that the fsync makes it durable too.
 */
export function seal(fd: number): Promise<void> {
  const sealing = (async () => {
    try {
      fchmodSync(fd, 0o444);
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
  })();
  sealing.catch(() => undefined);
  return sealing;
}

export function checkExpected(what: string, digest: Digest, size: number, expected: PutOptions): void {
  if (expected.size !== undefined && size !== expected.size) {
    throw new CairnError('size-mismatch', `${what}: expected ${expected.size} bytes, got ${size}`, {
      what,
      expected: expected.size,
      actual: size,
    });
  }
  if (expected.digest !== undefined && digest !== expected.digest) throw mismatch(what, expected.digest, digest);
}

export function mismatch(what: string, expected: Digest, actual: Digest): CairnError {
  return new CairnError('digest-mismatch', `${what}: content does not match its digest ${expected} (it hashes to ${actual})`, {
    what,
    expected,
    actual,
  });
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
