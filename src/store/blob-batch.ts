/**
 * @module store/blob-batch
 * `BlobBatch`: blobs staged together and made visible together (`BlobStore.batch()`).
 */
import type { Readable } from 'node:stream';
import type { BlobRef, BlobSink, BlobStore, PutOptions, StagedBlob } from './blobs.js';

/**
 * Blobs written together and made visible together, for small sets written in one go (commit:
 * layer, config, manifest). Each `put` streams, hashes and verifies its bytes into `cairn/tmp`
 * as `BlobStore.put` does, its fsync starting in the background as soon as it is written, so
 * the fsyncs of a batch overlap each other and the work between the puts instead of running one
 * after another (they are most of a small commit's time); `commit()` waits for them, renames
 * each blob into place and fsyncs their directory once. The contract is the store's: no blob is
 * visible before its bytes are durable and verified. Until `commit()` the blobs are invisible;
 * `discard()` (or a process death) leaves none behind.
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

  /** Makes every staged blob durable and visible (`BlobStore.commitAll`: one directory fsync). */
  async commit(): Promise<void> {
    await this.#blobs.commitAll(this.#staged.splice(0));
  }

  /** Drops every staged blob not yet committed. */
  async discard(): Promise<void> {
    await Promise.all(this.#staged.splice(0).map((s) => s.discard()));
  }
}
