/**
 * @module transport/copy
 * The copy engine (skopeo copy): from any ImageSource to any ImageDestination. Backends only
 * move raw documents and blobs; this walks indexes, picks a platform, converts between OCI and
 * Docker schema2 media types when asked, skips blobs the destination has, and checks every
 * document's digest. Blob bytes are verified once, by the destination, while they are written.
 */
import type { Readable } from 'node:stream';
import { digestOf } from '../digest/index.js';
import { CairnError } from '../errors.js';
import {
  convertMediaType,
  encodeDocument,
  hostPlatform,
  isIndexType,
  parseIndex,
  parseManifest,
  selectManifest,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../oci/index.js';
import type { ImageDestination, ImageRecord, ImageSource } from './types.js';

export type ImageFormat = 'oci' | 'docker';

export interface CopyProgress {
  readonly kind: 'blob' | 'document';
  readonly descriptor: Descriptor;
  /** 'skipped' when the destination already had it. */
  readonly state: 'start' | 'done' | 'skipped';
}

export interface CopyImageOptions {
  readonly source: ImageSource;
  readonly destination: ImageDestination;
  /** Names the destination records for the image (`name:tag` for the store and archives). */
  readonly names?: readonly string[];
  /** Platform to pick from an index (default: this host's). Ignored with `all`. */
  readonly platform?: Platform;
  /** Copy every image of an index, and the index itself. */
  readonly all?: boolean;
  /** Convert manifests, configs and layers to this format's media types. */
  readonly format?: ImageFormat;
  readonly onProgress?: (event: CopyProgress) => void;
  /** Optional wrapper for blob streams (progress bars count bytes with it). */
  readonly wrapBlob?: (descriptor: Descriptor, stream: Readable) => Readable;
}

/** Copies one image (or a whole index with `all`) and commits it. Returns what was written. */
export async function copyImage(options: CopyImageOptions): Promise<ImageRecord> {
  const record = await transferImage(options);
  await options.destination.commit([record]);
  return record;
}

/**
 * Copies the blobs and documents of one image without committing, so several images can go to
 * one destination (a multi-image archive) and be committed together.
 */
export async function transferImage(options: CopyImageOptions): Promise<ImageRecord> {
  const { source } = options;
  const root = await source.root();
  checkDigest(source.description, root.descriptor, root.bytes);
  let descriptor: Descriptor;
  if (isIndexType(root.descriptor.mediaType) || sniffIndex(root.bytes)) {
    const index = parseIndex(root.bytes, `index ${root.descriptor.digest} of ${source.description}`);
    if (options.all) {
      descriptor = await copyIndex(options, root.descriptor, index);
    } else {
      const chosen = selectManifest(index, options.platform ?? hostPlatform());
      descriptor = await copyManifest(options, chosen);
    }
  } else {
    descriptor = await copyManifestBytes(options, root.descriptor, root.bytes);
  }
  return { descriptor, names: options.names ?? [] };
}

async function copyIndex(options: CopyImageOptions, descriptor: Descriptor, index: ImageIndex): Promise<Descriptor> {
  if (!options.destination.accepts.index) {
    throw new CairnError('unsupported', `${options.destination.description} cannot hold a multi-platform index; choose one platform`, {
      destination: options.destination.description,
    });
  }
  const manifests: Descriptor[] = [];
  for (const child of index.manifests) {
    if (isIndexType(child.mediaType)) {
      throw new CairnError('unsupported', `nested index ${child.digest} in ${options.source.description}`, { digest: child.digest });
    }
    const written = await copyManifest(options, child);
    manifests.push({ ...child, mediaType: written.mediaType, digest: written.digest, size: written.size });
  }
  const format = targetFormat(options, index.mediaType ?? descriptor.mediaType);
  if (!options.destination.accepts[format]) {
    throw new CairnError('unsupported', `${options.destination.description} cannot hold ${format} images`, { format });
  }
  const changed = manifests.some((m, i) => m.digest !== index.manifests[i]?.digest);
  if (!changed && format === formatOf(descriptor.mediaType)) {
    const bytes = await options.source.readDocument(descriptor);
    checkDigest(options.source.description, descriptor, bytes);
    await putDocument(options, descriptor, bytes);
    return descriptor;
  }
  const mediaType = convertMediaType(index.mediaType ?? descriptor.mediaType, format);
  const next: ImageIndex = { ...index, mediaType, manifests };
  const bytes = Buffer.from(encodeDocument(next));
  const written: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.length };
  await putDocument(options, written, bytes);
  return written;
}

async function copyManifest(options: CopyImageOptions, descriptor: Descriptor): Promise<Descriptor> {
  const bytes = await options.source.readDocument(descriptor);
  checkDigest(options.source.description, descriptor, bytes);
  return copyManifestBytes(options, descriptor, bytes);
}

async function copyManifestBytes(options: CopyImageOptions, descriptor: Descriptor, bytes: Buffer): Promise<Descriptor> {
  const where = `manifest ${descriptor.digest} of ${options.source.description}`;
  const manifest = parseManifest(bytes, where);
  const sourceType = manifest.mediaType ?? descriptor.mediaType;
  const format = targetFormat(options, sourceType);
  const destination = options.destination;
  if (!destination.accepts[format]) {
    throw new CairnError('unsupported', `${destination.description} cannot hold ${format} images`, { format });
  }

  const configBytes = await options.source.readDocument(manifest.config);
  checkDigest(options.source.description, manifest.config, configBytes);
  for (const [i, layer] of manifest.layers.entries()) {
    await copyBlob(options, layer, `layer ${i + 1} (${layer.digest}) of ${options.source.description}`);
  }
  await putDocument(options, manifest.config, configBytes);

  if (format === formatOf(sourceType)) {
    await putDocument(options, descriptor, bytes);
    return { mediaType: sourceType, digest: descriptor.digest, size: descriptor.size };
  }
  const converted = convertManifest(manifest, sourceType, format, where);
  const out = Buffer.from(encodeDocument(converted));
  const written: Descriptor = { mediaType: converted.mediaType ?? sourceType, digest: digestOf(out), size: out.length };
  await putDocument(options, written, out);
  return written;
}

/** Rewrites media types; the blobs themselves are the same bytes in both formats. */
function convertManifest(manifest: ImageManifest, sourceType: string, format: ImageFormat, where: string): ImageManifest {
  const convert = (d: Descriptor, field: string): Descriptor => {
    try {
      return { ...d, mediaType: convertMediaType(d.mediaType, format) };
    } catch (err) {
      throw new CairnError('unsupported', `${where}: ${field} media type ${d.mediaType} has no ${format} equivalent`, { field }, { cause: err });
    }
  };
  // Docker schema 2 requires the mediaType field; OCI allows it, and cairn always writes it.
  const mediaType = convertMediaType(sourceType, format);
  return {
    ...manifest,
    mediaType,
    config: convert(manifest.config, 'config'),
    layers: manifest.layers.map((layer, i) => convert(layer, `layers[${i}]`)),
  };
}

async function copyBlob(options: CopyImageOptions, descriptor: Descriptor, what: string): Promise<void> {
  const destination = options.destination;
  if (await destination.hasBlob(descriptor.digest)) {
    options.onProgress?.({ kind: 'blob', descriptor, state: 'skipped' });
    return;
  }
  options.onProgress?.({ kind: 'blob', descriptor, state: 'start' });
  const raw = await options.source.openBlob(descriptor);
  const stream = options.wrapBlob ? options.wrapBlob(descriptor, raw) : raw;
  await destination.putBlob(descriptor, stream, what);
  options.onProgress?.({ kind: 'blob', descriptor, state: 'done' });
}

async function putDocument(options: CopyImageOptions, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  if (await options.destination.hasBlob(descriptor.digest)) {
    options.onProgress?.({ kind: 'document', descriptor, state: 'skipped' });
    return;
  }
  await options.destination.putDocument(descriptor, bytes);
  options.onProgress?.({ kind: 'document', descriptor, state: 'done' });
}

function checkDigest(where: string, descriptor: Descriptor, bytes: Buffer): void {
  const actual = digestOf(bytes);
  if (actual !== descriptor.digest) {
    throw new CairnError('digest-mismatch', `${where}: document ${descriptor.digest} hashes to ${actual}`, {
      expected: descriptor.digest,
      actual,
    });
  }
  if (bytes.length !== descriptor.size) {
    throw new CairnError('size-mismatch', `${where}: document ${descriptor.digest} is ${bytes.length} bytes, its descriptor says ${descriptor.size}`, {
      expected: descriptor.size,
      actual: bytes.length,
    });
  }
}

function formatOf(mediaType: string | undefined): ImageFormat {
  return mediaType?.startsWith('application/vnd.docker.') ? 'docker' : 'oci';
}

/**
 * The asked format, else the source's when the destination holds it, else the other one (an OCI
 * layout holds only OCI manifests: skopeo and containers/image ignore any other entry there).
 */
function targetFormat(options: CopyImageOptions, mediaType: string | undefined): ImageFormat {
  if (options.format !== undefined) return options.format;
  const own = formatOf(mediaType);
  return options.destination.accepts[own] ? own : own === 'oci' ? 'docker' : 'oci';
}

function sniffIndex(bytes: Buffer): boolean {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown; layers?: unknown };
    return Array.isArray(doc.manifests) && doc.layers === undefined;
  } catch {
    return false;
  }
}
