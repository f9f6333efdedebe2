/**
 * @module container/image
 * The image a container was made from: its record pins the manifest digest, so this reads
 * that manifest (never the tag, which may have moved since), and its config.
 *
 * Neither is validated again. Both passed validation when the container was created
 * (`resolveImage`, then `readConfig`), the record pins the manifest's digest and the manifest the
 * config's, and `readBytes` verifies the bytes against those digests: what it returns are the
 * very documents that passed. Validating them again would give the same verdict and cost a small
 * commit about a millisecond.
 */
import type { Digest } from '../digest/index.js';
import type { ResolvedImage } from '../image/resolve.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../oci/index.js';
import type { Store } from '../store/store.js';
import type { ContainerRecord } from './record.js';

export async function imageOf(store: Store, record: ContainerRecord): Promise<ResolvedImage> {
  const digest = record.image.manifest;
  const manifest = await readValidated<ImageManifest>(store, digest);
  const descriptor = { mediaType: MediaType.OciManifest, digest, size: 0 };
  return { entry: descriptor, descriptor, manifest, id: manifest.config.digest };
}

/** The config of `image`, as `imageOf` returned it. */
export function configOf(store: Store, image: ResolvedImage): Promise<ImageConfig> {
  return readValidated<ImageConfig>(store, image.manifest.config.digest);
}

/** A document validated before, by digest: verified against it, parsed as `parse*` would return it. */
async function readValidated<T>(store: Store, digest: Digest): Promise<T> {
  return JSON.parse((await store.blobs.readBytes(digest)).toString('utf8')) as T;
}
