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
 */
import type { Digest } from '../digest/index.js';
import { listImages, newestFirst, summarize, type ImageSummary } from '../image/list.js';
import { manifestOf } from '../image/resolve.js';
import { MediaType } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { isRecord, type CacheRecord } from './cache.js';

/** Every build cache record (the database is the truth). */
async function cacheRecords(store: Store): Promise<CacheRecord[]> {
  return store.withMeta(async (meta) => {
    const records: CacheRecord[] = [];
    for await (const [, value] of meta.buildCache.entries()) if (isRecord(value)) records.push(value);
    return records;
  });
}

/** The step images of the build cache that `listed` does not hold, untagged, one per image ID. */
export async function listStepImages(store: Store, listed: readonly ImageSummary[]): Promise<ImageSummary[]> {
  const seen = new Set<Digest>(listed.map((image) => image.id));
  const steps: ImageSummary[] = [];
  for (const record of await cacheRecords(store)) {
    if (seen.has(record.config)) continue;
    seen.add(record.config);
    if (!(await store.blobs.has(record.manifest)) || !(await store.blobs.has(record.config))) continue;
    const descriptor = { mediaType: MediaType.OciManifest, digest: record.manifest, size: record.manifestSize };
    steps.push(await summarize(store, await manifestOf(store, descriptor)));
  }
  return steps;
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
