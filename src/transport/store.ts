/**
 * @module transport/store
 * The store as a transport: a bare `NAME[:TAG]` (or image ID) on the command line. As a
 * destination, names are `name:tag` tags in index.json, and the copy runs inside the store's
 * ingest lock so gc cannot sweep blobs before they are tagged.
 */
import { resolveImage } from '../image/resolve.js';
import type { Platform } from '../oci/types.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { withTag } from '../store/tags.js';
import { LayoutDestination, LayoutSource } from './layout.js';
import type { ImageDestination, ImageRecord, ImageSource } from './types.js';

export function storeSource(store: Store, reference: string, platform?: Platform): ImageSource {
  // The entry (tag) is the root, so a tagged index is copied as an index when asked (--all).
  return new LayoutSource(store.layout, reference, async () => {
    const image = await resolveImage(store, reference, platform ? { platform } : {});
    return image.entry;
  });
}

/** A destination that tags each committed image with its names (`name[:tag]`, normalised). */
export function storeDestination(store: Store): ImageDestination {
  return new LayoutDestination(store.layout, `store ${store.root}`, async (images: readonly ImageRecord[]) => {
    await store.updateIndex((current) => {
      let manifests = [...current];
      for (const image of images) {
        if (image.names.length === 0) manifests = withTag(manifests, undefined, image.descriptor);
        for (const name of image.names) manifests = withTag(manifests, tagged(parseReference(name)), image.descriptor);
      }
      return manifests;
    });
  });
}
