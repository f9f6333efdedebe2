/**
 * @module container/image
 * The image a container was made from: its record pins the manifest digest, so this reads
 * that manifest (never the tag, which may have moved since).
 */
import { manifestOf, type ResolvedImage } from '../image/resolve.js';
import type { Store } from '../store/store.js';
import type { ContainerRecord } from './record.js';

export function imageOf(store: Store, record: ContainerRecord): Promise<ResolvedImage> {
  return manifestOf(store, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: record.image.manifest, size: 0 });
}
