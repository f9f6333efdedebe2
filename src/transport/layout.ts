/**
 * @module transport/layout
 * Source and destination over an OCI image layout. The `oci:` transport and the store share
 * this: they differ only in how a reference picks the root document and how names are recorded.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import type { Descriptor } from '../oci/types.js';
import type { StagedBlob } from '../store/blobs.js';
import type { OciLayout } from '../store/layout.js';
import type { ImageDestination, ImageRecord, ImageSource, RootDocument } from './types.js';

export class LayoutSource implements ImageSource {
  readonly description: string;
  readonly #layout: OciLayout;
  readonly #pick: () => Promise<Descriptor>;

  /** `pick` finds the root descriptor (in index.json) that the reference names. */
  constructor(layout: OciLayout, description: string, pick: () => Promise<Descriptor>) {
    this.#layout = layout;
    this.description = description;
    this.#pick = pick;
  }

  async root(): Promise<RootDocument> {
    const picked = await this.#pick();
    const { annotations: _a, ...descriptor } = picked;
    return { descriptor, bytes: await this.readDocument(descriptor) };
  }

  readDocument(descriptor: Descriptor): Promise<Buffer> {
    // Verified by the copy engine, which checks every document it reads.
    return this.#layout.blobs.readBytes(descriptor.digest, { verify: false });
  }

  openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.#layout.blobs.open(descriptor.digest);
  }

  async close(): Promise<void> {}
}

/**
 * Writes into a layout. Every blob and document is staged (written to the layout's temp dir
 * and verified) and becomes visible only at `commit`, after the whole image verified: a source
 * with one bad blob adds nothing. `close` discards whatever was staged and not committed.
 */
export class LayoutDestination implements ImageDestination {
  readonly description: string;
  /**
   * OCI manifests and indexes only: containers/image (skopeo, podman) skips index.json entries of
   * any other media type, so a Docker manifest there would be invisible to them. Docker sources
   * are converted, as skopeo does.
   */
  readonly accepts = { oci: true, docker: false, index: true } as const;
  readonly #layout: OciLayout;
  readonly #record: (images: readonly ImageRecord[]) => Promise<void>;
  readonly #cleanup: () => Promise<void>;
  readonly #staged = new Map<Digest, StagedBlob>();

  /**
   * `record` makes committed images visible (updates index.json its own way); `cleanup` removes
   * staging state on close.
   */
  constructor(
    layout: OciLayout,
    description: string,
    record: (images: readonly ImageRecord[]) => Promise<void>,
    cleanup: () => Promise<void> = async () => {},
  ) {
    this.#layout = layout;
    this.description = description;
    this.#record = record;
    this.#cleanup = cleanup;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return this.#staged.has(digest) || (await this.#layout.blobs.has(digest));
  }

  async putBlob(descriptor: Descriptor, bytes: Readable, what: string): Promise<void> {
    await this.#stage(descriptor, bytes, what);
  }

  async putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void> {
    await this.#stage(descriptor, bytes, `document ${descriptor.digest}`);
  }

  async #stage(descriptor: Descriptor, bytes: Readable | Buffer, what: string): Promise<void> {
    const staged = await this.#layout.blobs.stage(bytes, { digest: descriptor.digest, size: descriptor.size, what });
    this.#staged.set(staged.digest, staged);
  }

  /**
   * Blobs first (each one rename, then one fsync of their directory), then the names: a reader
   * never sees a name without its blobs.
   */
  async commit(images: readonly ImageRecord[]): Promise<void> {
    await this.#layout.blobs.commitAll([...this.#staged.values()]);
    this.#staged.clear();
    await this.#record(images);
  }

  async close(): Promise<void> {
    for (const staged of this.#staged.values()) await staged.discard();
    this.#staged.clear();
    await this.#cleanup();
  }
}
