/**
 * @module image/list
 * What `images` and `inspect` show: each index.json entry with its manifest, config and sizes,
 * read from the blobs (two small documents per image; no database needed).
 */
import type { Digest } from '../digest/index.js';
import { parseConfig, type Descriptor, type ImageConfig, type ImageManifest } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { tagRecords } from '../store/tags.js';
import { manifestOf, type ResolvedImage } from './resolve.js';

export interface ImageSummary {
  /** Repository, or undefined for an untagged (dangling) image. */
  readonly name?: string;
  readonly tag?: string;
  readonly entry: Descriptor;
  /** The platform manifest's descriptor (RepoDigests use it). */
  readonly manifestDescriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  /** Image ID: the config digest. */
  readonly id: Digest;
  /** Bytes the image's blobs take in the store (config + compressed layers). */
  readonly size: number;
}

/** The image's config; `verify: false` trusts the store's digest check at ingest (see ResolveOptions). */
export async function readConfig(store: Store, image: ResolvedImage, options: { verify?: boolean } = {}): Promise<ImageConfig> {
  const bytes = await store.blobs.readBytes(image.manifest.config.digest, { verify: options.verify ?? true });
  return parseConfig(bytes, `config ${image.manifest.config.digest}`);
}

export function imageSize(manifest: ImageManifest): number {
  return manifest.config.size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
}

export async function summarize(store: Store, image: ResolvedImage, name?: string, tag?: string): Promise<ImageSummary> {
  const config = await readConfig(store, image);
  return {
    ...(name !== undefined ? { name } : {}),
    ...(tag !== undefined ? { tag } : {}),
    entry: image.entry,
    manifestDescriptor: image.descriptor,
    manifest: image.manifest,
    config,
    id: image.id,
    size: imageSize(image.manifest),
  };
}

/** Every image in the store, newest first (docker's order). */
export async function listImages(store: Store): Promise<ImageSummary[]> {
  const summaries: ImageSummary[] = [];
  for (const record of tagRecords((await store.readIndex()).manifests)) {
    const image = await manifestOf(store, record.descriptor);
    summaries.push(await summarize(store, image, record.name, record.tag));
  }
  return summaries.sort(newestFirst);
}

/** Orders summaries newest first by their config's `created` (docker's order for `images`). */
export function newestFirst(a: ImageSummary, b: ImageSummary): number {
  return Date.parse(b.config.created ?? '0') - Date.parse(a.config.created ?? '0');
}
