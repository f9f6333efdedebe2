/**
 * @module transport/layout
 * Source and destination over an OCI image layout. The `oci:` transport and the store share
 * this: they differ only in how a reference picks the root document and how names are recorded.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import type { Descriptor } from '../oci/types.js';
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

export class LayoutDestination implements ImageDestination {
  readonly description: string;
  readonly accepts = { oci: true, docker: true, index: true } as const;
  readonly #layout: OciLayout;
  readonly #record: (images: readonly ImageRecord[]) => Promise<void>;
  readonly #cleanup: () => Promise<void>;

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

  hasBlob(digest: Digest): Promise<boolean> {
    return this.#layout.blobs.has(digest);
  }

  async putBlob(descriptor: Descriptor, bytes: Readable, what: string): Promise<void> {
    await this.#layout.blobs.put(bytes, { digest: descriptor.digest, size: descriptor.size, what });
  }

  async putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void> {
    await this.#layout.blobs.put(bytes, { digest: descriptor.digest, size: descriptor.size, what: `document ${descriptor.digest}` });
  }

  commit(images: readonly ImageRecord[]): Promise<void> {
    return this.#record(images);
  }

  close(): Promise<void> {
    return this.#cleanup();
  }
}
