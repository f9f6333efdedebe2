/**
 * @module transport/types
 * Sources and destinations of images (skopeo's transports). Each backend implements only the raw
 * core: find the root document for a reference, read a blob by descriptor, write a blob, write a
 * document, record names. `copy()` (./copy.ts) derives everything else: walking indexes,
 * platform choice, format conversion, skipping blobs the destination has.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import type { Descriptor } from '../oci/types.js';

/** The top-level document a reference names: an image manifest or an index, with its exact bytes. */
export interface RootDocument {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

export interface ImageSource {
  /** How the user named it (`oci:/tmp/x:1`), for messages. */
  readonly description: string;
  /** The manifest or index the reference names. */
  root(): Promise<RootDocument>;
  /** The exact bytes of a document (manifest, index, config) by digest. */
  readDocument(descriptor: Descriptor): Promise<Buffer>;
  /**
   * A stream of the blob's bytes. The source does not verify them; `copy()` does, on the way
   * into the destination, so the bytes are hashed once.
   */
  openBlob(descriptor: Descriptor): Promise<Readable>;
  /** Releases files and temp dirs. Safe to call twice. */
  close(): Promise<void>;
}

/** One image placed at a destination, with the names it should carry. */
export interface ImageRecord {
  /** The manifest (or index) descriptor. */
  readonly descriptor: Descriptor;
  /** `name:tag` strings; empty for an untagged image. */
  readonly names: readonly string[];
}

export interface ImageDestination {
  readonly description: string;
  /** The formats this destination can hold; `copy()` converts or fails when the source's is not among them. */
  readonly accepts: { readonly oci: boolean; readonly docker: boolean; readonly index: boolean };
  /** True when the destination already holds the blob, so the copy can skip it. */
  hasBlob(digest: Digest): Promise<boolean>;
  /** Writes a blob, verifying its digest and size on the way; nothing is kept when they do not match. */
  putBlob(descriptor: Descriptor, bytes: Readable, what: string): Promise<void>;
  /** Writes a document (manifest, index, config); its digest is that of `bytes`. */
  putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void>;
  /** Makes the images visible (tags, index entries, archive trailers). Called once, last. */
  commit(images: readonly ImageRecord[]): Promise<void>;
  /** Removes whatever a failed copy left, unless committed. Safe to call twice. */
  close(): Promise<void>;
}
