/**
 * @module build/step-images
 * `images -a`: the store's images together with the intermediate ones — the image each build
 * step produced, which the build cache keeps (build/cache) but index.json does not list. They
 * are what docker's classic builder left as `<none>:<none>` parents of the images it built, and
 * what `docker images -a` shows; plain `images` hides them, as docker does.
 *
 * The build cache's database is read (under the store lock, opened once), not its index copy,
 * which keeps only the newest records. A step image is listed once, by image ID, and not at all
 * when index.json lists it already (the last step of a build is the tagged image); a record
 * whose blobs are gone is skipped.
 *
 * Like docker's, these images can be named by ID wherever an image is (image/resolve looks here
 * for an ID index.json lacks: inspect, history, run, tag), and `rmi` removes one. The build cache
 * holding an image keeps it, as a container using it keeps a docker image: `rmi` of its last tag
 * only untags it (`isStepImage`), and it stays in `images -a`.
 */
import { rm } from 'node:fs/promises';
import type { Digest } from '../digest/index.js';
import { listImages, newestFirst, summarize, type ImageSummary } from '../image/list.js';
import { manifestOf } from '../image/resolve.js';
import { MediaType, type Descriptor } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { isRecord, readIndexCopy, removeCacheRecords, type CacheRecord } from './cache.js';
import { memoDir } from './memo.js';

/** Every build cache record (the database is the truth; a store without one has none). */
async function cacheRecords(store: Store): Promise<CacheRecord[]> {
  if (!(await store.hasMeta())) return [];
  return store.withMeta(async (meta) => {
    const records: CacheRecord[] = [];
    for await (const [, value] of meta.buildCache.entries()) if (isRecord(value)) records.push(value);
    return records;
  });
}

/** A build step's image as the build cache records it. */
export interface StepImage {
  /** The image ID (config digest). */
  readonly id: Digest;
  readonly descriptor: Descriptor;
}

/**
 * The images the build cache holds, one per image ID, skipping those whose blobs are gone. Some
 * may be listed in index.json too (the last step of a tagged build).
 */
export async function stepImages(store: Store): Promise<StepImage[]> {
  const seen = new Set<Digest>();
  const steps: StepImage[] = [];
  for (const record of await cacheRecords(store)) {
    if (seen.has(record.config)) continue;
    seen.add(record.config);
    if (!(await hasBlobs(store, record))) continue;
    steps.push({ id: record.config, descriptor: { mediaType: MediaType.OciManifest, digest: record.manifest, size: record.manifestSize } });
  }
  return steps;
}

/** Whether a record's image is still in the store (gc has not taken its blobs). */
async function hasBlobs(store: Store, record: CacheRecord): Promise<boolean> {
  return (await store.blobs.has(record.manifest)) && (await store.blobs.has(record.config));
}

/**
 * Whether `images -a` lists image `id` as a build step's image (whether or not index.json lists
 * it too). The index copy is asked first, as a build's lookups do: it holds the newest records,
 * a built image's among them, and answers without loading LevelDB (~0.05 s); only a miss there
 * opens the database.
 */
export async function isStepImage(store: Store, id: Digest): Promise<boolean> {
  if (!(await store.hasMeta())) return false;
  const holds = async (records: Iterable<CacheRecord>): Promise<boolean> => {
    for (const record of records) if (record.config === id && (await hasBlobs(store, record))) return true;
    return false;
  };
  return (await holds((await readIndexCopy(store.paths)).values())) || (await holds(await cacheRecords(store)));
}

/** The step images of the build cache that `listed` does not hold, untagged, one per image ID. */
export async function listStepImages(store: Store, listed: readonly ImageSummary[]): Promise<ImageSummary[]> {
  const shown = new Set<Digest>(listed.map((image) => image.id));
  const steps: ImageSummary[] = [];
  for (const step of await stepImages(store)) {
    if (!shown.has(step.id)) steps.push(await summarize(store, await manifestOf(store, step.descriptor)));
  }
  return steps;
}

/**
 * Removes an image from the build cache (`rmi` of an ID): the records that hold it, so that
 * `images -a` no longer lists it and gc may free its blobs. A later build runs that step again,
 * so the rebuild memos, which promise that every step would hit, go too. Returns how many
 * records went (0: the build cache does not hold it; a store without a database has none, and
 * none is created).
 */
export async function removeStepImage(store: Store, id: Digest): Promise<number> {
  if (!(await store.hasMeta())) return 0;
  return store.withMeta(async (meta) => {
    const doomed: string[] = [];
    for await (const [key, value] of meta.buildCache.entries()) if (isRecord(value) && value.config === id) doomed.push(key);
    if (doomed.length > 0) {
      await removeCacheRecords(store.paths, meta, doomed);
      await rm(memoDir(store.paths), { recursive: true, force: true });
    }
    return doomed.length;
  });
}

/**
 * Every image in the store, the build steps' intermediate images included (`images -a`), newest
 * first like `listImages`.
 *
 * @example
 * const all = await listAllImages(store);
 * all.filter((image) => image.name === undefined) // dangling and intermediate images
 */
export async function listAllImages(store: Store): Promise<ImageSummary[]> {
  const listed = await listImages(store);
  return [...listed, ...(await listStepImages(store, listed))].sort(newestFirst);
}
