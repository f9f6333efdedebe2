/**
 * @module transport/load
 * `load` and `save`: whole archives in and out of the store. `load` tells a docker-archive
 * (manifest.json; Docker 25+ hybrids have both and load as docker archives, keeping RepoTags)
 * from an oci-archive (oci-layout) and imports every image in it with its names. `save` writes
 * several store images into one archive, committed once.
 */
import { CairnError } from '../errors.js';
import { parseIndex, type Descriptor } from '../oci/index.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { refNameOf } from '../store/tags.js';
import { ArchiveIndex } from './archive-index.js';
import { copyImage, transferImage } from './copy.js';
import { openDockerArchiveDestination, openDockerArchiveSource } from './docker-archive.js';
import { openOciArchiveDestination, openOciArchiveSource } from './oci-archive.js';
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

/** Imports every image of a docker or OCI archive into the store. */
export async function loadArchive(store: Store, file: string): Promise<LoadedImage[]> {
  await store.prepare();
  const tmpDir = store.paths.tmp;
  const format = await detectArchiveFormat(file, tmpDir);
  const sources: (() => Promise<{ source: ImageSource; names: string[] }>)[] = [];
  if (format === 'docker-archive') {
    const first = await openDockerArchiveSource(file, { ref: 0, tmpDir });
    const images = first.images;
    await first.close();
    for (const image of images) {
      sources.push(async () => ({ source: await openDockerArchiveSource(file, { ref: image.index, tmpDir }), names: storeNames(image.names) }));
    }
  } else {
    const archive = await ArchiveIndex.open(file, { tmpDir });
    let entries: readonly Descriptor[];
    try {
      const member = archive.require('index.json', 'the image index');
      entries = parseIndex(await archive.readMember(member), `${file}: index.json`).manifests;
    } finally {
      await archive.close();
    }
    const byDigest = new Map<string, string[]>();
    for (const entry of entries) {
      const names = byDigest.get(entry.digest) ?? [];
      const name = refNameOf(entry);
      if (name !== undefined) names.push(name);
      byDigest.set(entry.digest, names);
    }
    for (const [digest, names] of byDigest) {
      sources.push(async () => ({ source: await openOciArchiveSource(file, { ref: `@${digest}`, tmpDir }), names: storeNames(names) }));
    }
  }
  const loaded: LoadedImage[] = [];
  await store.ingest(async () => {
    for (const open of sources) {
      const { source, names } = await open();
      try {
        const destination = storeDestination(store);
        try {
          const record = await copyImage({ source, destination, names, all: true });
          loaded.push(record);
        } finally {
          await destination.close();
        }
      } finally {
        await source.close();
      }
    }
  });
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
