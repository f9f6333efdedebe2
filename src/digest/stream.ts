/**
 * @module digest/stream
 * A pass-through stream that hashes and counts what flows through it, so one read of the bytes
 * yields both the copy and its digest (never hash the same bytes twice on one path).
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Digest } from './digest.js';
import { nodeSha256, type Hasher, type HasherFactory } from './hasher.js';

export class DigestStream extends Transform {
  #hasher: Hasher;
  #size = 0;
  #digest: Digest | undefined;

  constructor(factory: HasherFactory = nodeSha256) {
    super();
    this.#hasher = factory();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hasher.update(chunk);
    this.#size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = this.#hasher.digest();
    callback();
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** The digest; only defined once the stream has ended. */
  get digest(): Digest | undefined {
    return this.#digest;
  }
}
