/**
 * @module transport/load
 * `load` and `save`: whole archives in and out of the store. `load` tells a docker-archive
 * (manifest.json; Docker 25+ hybrids have both and load as docker archives, keeping RepoTags)
 * from an oci-archive (oci-layout) and imports every image in it with its names. `save` writes
 * several store images into one archive, committed once.
 */
import { CairnError } from '../errors.js';
import type { Descriptor } from '../oci/index.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { refNameOf } from '../store/tags.js';
import { ArchiveIndex } from './archive-index.js';
import { copyImage, transferImage } from './copy.js';
import { openDockerArchive, openDockerArchiveDestination } from './docker-archive.js';
import { openOciArchive, openOciArchiveDestination } from './oci-archive.js';
import { storeDestination, storeSource } from './store.js';
import type { ImageRecord, ImageSource } from './types.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive';

export interface LoadedImage {
  readonly descriptor: Descriptor;
  readonly names: readonly string[];
}

/** Which archive format `file` is, by its members. */
export async function detectArchiveFormat(file: string, tmpDir: string): Promise<ArchiveFormat> {
  const archive = await ArchiveIndex.open(file, { tmpDir });
  try {
    if (archive.resolve('manifest.json')) return 'docker-archive';
    if (archive.resolve('oci-layout')) return 'oci-archive';
  } finally {
    await archive.close();
  }
  throw new CairnError('invalid-archive', `${file} is neither a docker archive (no manifest.json) nor an OCI archive (no oci-layout)`, { file });
}

/** Store names for an archive's ref names; refs that are not image names (umoci's bare `3`) are dropped. */
function storeNames(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    try {
      const ref = parseReference(name);
      if (ref.digest === undefined && name.includes(':')) out.push(tagged(ref));
    } catch {
      // Not an image name.
    }
  }
  return out;
}

/** One image of an archive, ready to be copied. */
interface ArchiveImage {
  readonly open: () => Promise<ImageSource>;
  readonly names: readonly string[];
}

/** An archive opened once, listing its images; sources share its index. */
interface OpenedArchive {
  readonly images: readonly ArchiveImage[];
  close(): Promise<void>;
}

async function openArchive(file: string, format: ArchiveFormat, tmpDir: string): Promise<OpenedArchive> {
  if (format === 'docker-archive') {
    const archive = await openDockerArchive(file, { tmpDir });
    const images = archive.images.map((image) => ({ open: () => archive.source(image.index), names: storeNames(image.names) }));
    return { images, close: () => archive.close() };
  }
  const archive = await openOciArchive(file, { tmpDir });
  // One image per digest, with every ref name index.json gives it.
  const byDigest = new Map<string, string[]>();
  for (const entry of archive.entries) {
    const names = byDigest.get(entry.digest) ?? [];
    const name = refNameOf(entry);
    if (name !== undefined) names.push(name);
    byDigest.set(entry.digest, names);
  }
  const images = [...byDigest].map(([digest, names]) => ({ open: () => archive.source(`@${digest}`), names: storeNames(names) }));
  return { images, close: () => archive.close() };
}

/** Imports every image of a docker or OCI archive into the store (the archive is read once more after detection). */
export async function loadArchive(store: Store, file: string): Promise<LoadedImage[]> {
  await store.prepare();
  const tmpDir = store.paths.tmp;
  const archive = await openArchive(file, await detectArchiveFormat(file, tmpDir), tmpDir);
  const loaded: LoadedImage[] = [];
  try {
    await store.ingest(async () => {
      for (const image of archive.images) {
        const source = await image.open();
        const destination = storeDestination(store);
        try {
          loaded.push(await copyImage({ source, destination, names: image.names, all: true }));
        } finally {
          await destination.close();
          await source.close();
        }
      }
    });
  } finally {
    await archive.close();
  }
  return loaded;
}

export interface SaveOptions {
  readonly format?: ArchiveFormat;
}

/** Writes store images into one archive file (docker-archive by default, as `docker save`). */
export async function saveImages(store: Store, references: readonly string[], file: string, options: SaveOptions = {}): Promise<ImageRecord[]> {
  if (references.length === 0) throw new CairnError('invalid-argument', 'save: name at least one image');
  await store.prepare();
  const tmpDir = store.paths.tmp;
  const format = options.format ?? 'docker-archive';
  const destination = format === 'docker-archive'
    ? await openDockerArchiveDestination(file, { tmpDir })
    : await openOciArchiveDestination(file, { tmpDir });
  try {
    const records: ImageRecord[] = [];
    for (const reference of references) {
      const source = storeSource(store, reference);
      try {
        const names = nameOf(reference);
        records.push(await transferImage({ source, destination, names }));
      } finally {
        await source.close();
      }
    }
    await destination.commit(records);
    return records;
  } finally {
    await destination.close();
  }
}

/** The tag to record for `reference` in an archive: its name when it is a name, none for an ID. */
function nameOf(reference: string): string[] {
  if (/^(sha256:)?[0-9a-f]{3,64}$/.test(reference)) return [];
  try {
    const ref = parseReference(reference);
    return ref.digest === undefined ? [tagged(ref)] : [];
  } catch {
    return [];
  }
}
