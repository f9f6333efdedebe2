/**
 * @module image/draft
 * Making images as values (ggcr's `mutate`): an `ImageDraft` is a config plus layer descriptors;
 * `appendLayer` streams a tar into the store as a new compressed layer blob, `mutateConfig`
 * changes the config (recording an `empty_layer` history entry, as docker does for config-only
 * steps), `writeImage` writes the config and manifest blobs. Drafts are immutable; each step
 * returns a new one. Callers that tag the result should run the whole sequence inside
 * `store.ingest()` so gc cannot sweep the new blobs before the tag exists.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, type Digest } from '../digest/index.js';
import { DigestStream } from '../digest/stream.js';
import {
  MediaType,
  encodeDocument,
  hostPlatform,
  parseConfig,
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
} from '../oci/index.js';
import type { BlobRef, BlobSink } from '../store/blobs.js';
import type { Store } from '../store/store.js';
// The tar modules themselves, not the tar index: it would load node:child_process (archive-compression) too.
import { compressBytes, compressStream, type Compression } from '../tar/compression.js';
import { readIfSmall } from '../tar/layer-stream.js';
import type { ResolvedImage } from './resolve.js';

export interface ImageDraft {
  readonly config: ImageConfig;
  readonly layers: readonly Descriptor[];
}

/** An image with no layers (`FROM scratch`) for this host's platform. */
export function scratchImage(created?: Date): ImageDraft {
  const platform = hostPlatform();
  return {
    config: {
      ...(created ? { created: created.toISOString() } : {}),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
      history: [],
    },
    layers: [],
  };
}

/** The draft of an image in the store, to build on. */
export async function draftOf(store: Store, image: ResolvedImage): Promise<ImageDraft> {
  const bytes = await store.blobs.readBytes(image.manifest.config.digest);
  return { config: parseConfig(bytes, `config ${image.manifest.config.digest}`), layers: image.manifest.layers };
}

const LAYER_MEDIA_TYPE: Readonly<Record<Compression, string>> = {
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
  none: MediaType.OciLayer,
};

export interface AppendLayerOptions {
  readonly compression?: Compression;
  readonly level?: number;
  /** The history entry for this layer (docker's `created_by`, author, comment). */
  readonly history?: HistoryEntry;
  /** Names the layer in error messages. */
  readonly what?: string;
  /** Where the blob goes (default: the store, durable at once); a `BlobBatch` to commit it with others. */
  readonly into?: BlobSink;
}

/** A layer blob written by `writeLayer`, not yet part of any image. */
export interface WrittenLayer {
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
}

/**
 * A layer tar up to this size is compressed in memory, in one call (a commit of a few changed
 * files: the streaming chain costs more than the work). Big enough for a small change, small
 * enough that holding it and compressing it without yielding (a few ms at most) does not matter.
 * Producers that can hand over such a tar as bytes (`overlayUpperTar`) use the same bound.
 */
export const SMALL_LAYER_BYTES = 256 * 1024;

/**
 * Streams `tar` (an uncompressed layer) into the store, compressed. The diffID is hashed before
 * the compressor and the blob digest by the store's ingest after it: each form of the bytes is
 * hashed once. A small tar (or one given as bytes) is hashed and compressed in memory instead,
 * to the same bytes. Needs no image: a caller can write the layer while it reads the image it
 * goes on (`withLayer` joins them).
 */
export async function writeLayer(
  store: Store,
  tar: Readable | AsyncIterable<Uint8Array> | Uint8Array,
  options: Omit<AppendLayerOptions, 'history'> = {},
): Promise<WrittenLayer> {
  const compression = options.compression ?? 'gzip';
  const level = options.level !== undefined ? { level: options.level } : {};
  const sink = options.into ?? store.blobs;
  const what = options.what ?? 'new layer';
  const written = (blob: BlobRef, diffId: Digest): WrittenLayer => ({
    descriptor: { mediaType: LAYER_MEDIA_TYPE[compression], digest: blob.digest, size: blob.size },
    diffId,
  });
  const inMemory = async (whole: Uint8Array, method: 'gzip' | 'none'): Promise<WrittenLayer> =>
    written(await sink.put(compressBytes(method, whole, level), { what }), digestOf(whole));
  // zstd always streams (see compressBytes).
  let source: Readable;
  if (tar instanceof Uint8Array) {
    if (compression !== 'zstd') return inMemory(tar, compression);
    source = Readable.from([tar]);
  } else {
    source = tar instanceof Readable ? tar : Readable.from(tar, { objectMode: false });
    const whole = compression === 'zstd' ? undefined : await readIfSmall(source, SMALL_LAYER_BYTES);
    if (whole !== undefined && compression !== 'zstd') return inMemory(whole, compression);
  }
  const diffHash = new DigestStream();
  const compressor = compressStream(compression, level);
  const piping = pipeline(source, diffHash, compressor);
  const [blob] = await Promise.all([sink.put(compressor, { what }), piping]);
  return written(blob, diffHash.digest as Digest);
}

/** The draft with `layer` on top, and its history entry. */
export function withLayer(draft: ImageDraft, layer: WrittenLayer, history?: HistoryEntry): ImageDraft {
  return {
    config: {
      ...draft.config,
      rootfs: { type: 'layers', diff_ids: [...draft.config.rootfs.diff_ids, layer.diffId] },
      history: [...(draft.config.history ?? []), ...(history ? [history] : [])],
    },
    layers: [...draft.layers, layer.descriptor],
  };
}

/**
 * Streams `tar` (an uncompressed layer) into the store, compressed, and returns the draft with
 * the layer on top (`writeLayer` + `withLayer`).
 */
export async function appendLayer(store: Store, draft: ImageDraft, tar: Readable | AsyncIterable<Uint8Array> | Uint8Array, options: AppendLayerOptions = {}): Promise<ImageDraft> {
  return withLayer(draft, await writeLayer(store, tar, options), options.history);
}

/** Changes the container config; with `history`, records it as an `empty_layer` step. */
export function mutateConfig(draft: ImageDraft, change: (config: ContainerConfig) => ContainerConfig, history?: HistoryEntry): ImageDraft {
  return {
    ...draft,
    config: {
      ...draft.config,
      config: change(draft.config.config ?? {}),
      history: [...(draft.config.history ?? []), ...(history ? [{ ...history, empty_layer: true }] : [])],
    },
  };
}

export interface WriteImageOptions {
  /** The config's `created` (default: now); also stamps history entries that have none. */
  readonly created?: Date;
  readonly author?: string;
  /** As for `appendLayer`. */
  readonly into?: BlobSink;
}

/** Writes the config and manifest blobs; returns the manifest descriptor (not yet tagged). */
export async function writeImage(store: Store, draft: ImageDraft, options: WriteImageOptions = {}): Promise<Descriptor> {
  return (await writeImageWithId(store, draft, options)).descriptor;
}

/** `writeImage`, also returning the image ID (the config's digest) it wrote. */
export async function writeImageWithId(store: Store, draft: ImageDraft, options: WriteImageOptions = {}): Promise<{ descriptor: Descriptor; id: Digest }> {
  const created = (options.created ?? new Date()).toISOString();
  const config: ImageConfig = {
    ...draft.config,
    created,
    ...(options.author !== undefined ? { author: options.author } : {}),
    history: (draft.config.history ?? []).map((h) => (h.created ? h : { ...h, created })),
  };
  const sink = options.into ?? store.blobs;
  const configBytes = Buffer.from(encodeDocument(config));
  const configRef = await sink.put(configBytes, { what: 'image config' });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configRef.digest, size: configRef.size },
    layers: draft.layers,
  };
  const manifestBytes = Buffer.from(encodeDocument(manifest));
  const manifestRef = await sink.put(manifestBytes, { what: 'image manifest' });
  return { descriptor: { mediaType: MediaType.OciManifest, digest: manifestRef.digest, size: manifestRef.size }, id: configRef.digest };
}

/** The image ID a draft would get (sha256 of its config bytes) — for tests and dry runs. */
export function configDigest(config: ImageConfig): Digest {
  return digestOf(encodeDocument(config));
}
