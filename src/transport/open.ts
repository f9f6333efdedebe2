/**
 * @module transport/open
 * From transport names to sources and destinations, and `copy(src, dst)` on top of the copy
 * engine: what `cairn copy`, `load` and `save` call. When the store is the destination, the whole
 * copy runs inside the store's ingest lock so gc cannot sweep its blobs before they are tagged.
 */
import { CairnError } from '../errors.js';
import type { Platform } from '../oci/types.js';
import { parseReference, tagged } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { copyImage, type CopyProgress, type ImageFormat } from './copy.js';
import { openDockerArchiveDestination, openDockerArchiveSource } from './docker-archive.js';
import { formatTransportName, parseTransportName, type TransportName } from './names.js';
import { openOciArchiveDestination, openOciArchiveSource } from './oci-archive.js';
import { openOciLayoutDestination, openOciLayoutSource } from './oci-layout.js';
import { parseRegistryReference } from './registry/reference.js';
import { openRegistryDestination } from './registry/destination.js';
import { openRegistrySource } from './registry/source.js';
import type { RegistryOptions } from './registry/client.js';
import { storeDestination, storeSource } from './store.js';
import type { ImageDestination, ImageRecord, ImageSource } from './types.js';
import type { Descriptor } from '../oci/types.js';
import type { Readable } from 'node:stream';

export interface CopyOptions {
  /** The store, for bare image names and for staging archives on its filesystem. */
  readonly store: Store;
  readonly platform?: Platform;
  readonly all?: boolean;
  readonly format?: ImageFormat;
  readonly onProgress?: (event: CopyProgress) => void;
  readonly wrapBlob?: (descriptor: Descriptor, stream: Readable) => Readable;
  /** For `docker://` ends: TLS checks (false allows plain HTTP) and where credentials are looked up. */
  readonly registry?: RegistryOptions;
}

export async function openSource(name: TransportName, store: Store, platform?: Platform, registry?: RegistryOptions): Promise<ImageSource> {
  switch (name.kind) {
    case 'docker':
      return openRegistrySource(parseRegistryReference(name.reference, 'source image'), registry);
    case 'oci':
      return openOciLayoutSource(name.path, name.ref);
    case 'oci-archive':
      return openOciArchiveSource(name.path, { ...(name.ref !== undefined ? { ref: name.ref } : {}), tmpDir: await staging(store) });
    case 'docker-archive':
      return openDockerArchiveSource(name.path, { ...(name.ref !== undefined ? { ref: name.ref } : {}), tmpDir: await staging(store) });
    case 'store':
      return storeSource(store, name.ref, platform);
  }
}

export async function openDestination(name: TransportName, store: Store, registry?: RegistryOptions): Promise<ImageDestination> {
  switch (name.kind) {
    case 'docker':
      return openRegistryDestination(parseRegistryReference(name.reference, 'destination image'), registry);
    case 'oci':
      return openOciLayoutDestination(name.path, name.ref);
    case 'oci-archive':
      return openOciArchiveDestination(name.path, { tmpDir: await staging(store) });
    case 'docker-archive':
      return openDockerArchiveDestination(name.path, { tmpDir: await staging(store) });
    case 'store':
      return storeDestination(store);
  }
}

async function staging(store: Store): Promise<string> {
  await store.prepare();
  return store.paths.tmp;
}

/** The names an image gets at the destination. */
function destinationNames(source: TransportName, destination: TransportName): string[] {
  if (destination.kind === 'store') {
    const ref = parseReference(destination.ref, 'destination image name');
    if (ref.digest !== undefined) {
      throw new CairnError('invalid-argument', `destination "${destination.ref}": an image name cannot carry a digest`, {});
    }
    return [tagged(ref)];
  }
  // A registry destination is tagged by its own reference.
  if (destination.kind === 'docker') return [];
  if (destination.ref !== undefined) return [destination.ref];
  // A docker archive without a name is unusable by `docker load`; take the source's tag.
  if (destination.kind === 'docker-archive' && source.kind === 'store') {
    try {
      const ref = parseReference(source.ref);
      if (ref.digest === undefined) return [tagged(ref)];
    } catch {
      // An image ID: no name to give.
    }
  }
  return [];
}

/** Copies `source` to `destination` (transport names, as `cairn copy` takes them). */
export function copy(source: string, destination: string, options: CopyOptions): Promise<ImageRecord> {
  const from = parseTransportName(source);
  const to = parseTransportName(destination);
  return copyBetween(from, to, destinationNames(from, to), options);
}

/**
 * The copy itself, with the destination names decided by the caller. The whole copy runs inside
 * the store's ingest lock when the store is either end.
 */
export async function copyBetween(from: TransportName, to: TransportName, names: readonly string[], options: CopyOptions): Promise<ImageRecord> {
  const format = options.format;
  const run = async (): Promise<ImageRecord> => {
    const src = await openSource(from, options.store, options.platform, options.registry);
    try {
      const dst = await openDestination(to, options.store, options.registry);
      try {
        return await copyImage({
          source: src,
          destination: dst,
          names,
          ...(options.platform !== undefined ? { platform: options.platform } : {}),
          ...(options.all !== undefined ? { all: options.all } : {}),
          ...(format !== undefined ? { format } : {}),
          ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
          ...(options.wrapBlob !== undefined ? { wrapBlob: options.wrapBlob } : {}),
        });
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
  };
  return to.kind === 'store' || from.kind === 'store' ? options.store.ingest(run) : run();
}

export { formatTransportName, parseTransportName };
