/**
 * @module transport/registry/destination
 * `docker://HOST/REPO[:TAG]` as a destination. Blobs the repository already has are skipped (a
 * HEAD each); layers stream to the registry in one monolithic upload each, and the registry
 * verifies their digests. Manifests go up by digest as they are written (an index needs its
 * children first), and the tag is set last, at commit: a copy that fails midway leaves no tag.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest/index.js';
import { CairnError } from '../../errors.js';
import { isIndexType, isManifestType } from '../../oci/index.js';
import type { Descriptor } from '../../oci/types.js';
import type { ImageDestination, ImageRecord } from '../types.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import type { RegistryReference } from './reference.js';

export function openRegistryDestination(reference: RegistryReference, options: RegistryOptions = {}): ImageDestination {
  return new RegistryDestination(new RegistryClient(reference, 'push', options));
}

class RegistryDestination implements ImageDestination {
  readonly accepts = { oci: true, docker: true, index: true } as const;
  readonly #client: RegistryClient;
  /** Manifests written in this copy, by digest, to tag at commit without reading them back. */
  readonly #manifests = new Map<Digest, { mediaType: string; bytes: Buffer }>();

  constructor(client: RegistryClient) {
    this.#client = client;
  }

  get description(): string {
    return this.#client.description;
  }

  hasBlob(digest: Digest): Promise<boolean> {
    return this.#client.hasBlob(digest);
  }

  putBlob(descriptor: Descriptor, bytes: Readable, what: string): Promise<void> {
    return this.#client.uploadBlob(descriptor.digest, descriptor.size, bytes, what);
  }

  async putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void> {
    if (isManifestType(descriptor.mediaType) || isIndexType(descriptor.mediaType)) {
      await this.#client.putManifest(descriptor.digest, descriptor.mediaType, bytes);
      this.#manifests.set(descriptor.digest, { mediaType: descriptor.mediaType, bytes });
      return;
    }
    await this.#client.uploadBlob(descriptor.digest, descriptor.size, bytes, `config ${descriptor.digest}`);
  }

  async commit(images: readonly ImageRecord[]): Promise<void> {
    const { tag, digest } = this.#client.reference;
    for (const image of images) {
      if (digest !== undefined && digest !== image.descriptor.digest) {
        throw new CairnError('digest-mismatch', `${this.description}: the image's manifest is ${image.descriptor.digest}, not the digest named`, {
          expected: digest,
          actual: image.descriptor.digest,
        });
      }
      if (tag === undefined) continue;
      const known = this.#manifests.get(image.descriptor.digest);
      // Skipped as already present: read it back to tag it.
      const bytes = known?.bytes ?? (await this.#client.getManifest(image.descriptor.digest)).bytes;
      await this.#client.putManifest(tag, known?.mediaType ?? image.descriptor.mediaType, bytes);
    }
  }

  async close(): Promise<void> {}
}
