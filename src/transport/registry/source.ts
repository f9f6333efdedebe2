/**
 * @module transport/registry/source
 * `docker://HOST/REPO[:TAG|@DIGEST]` as a source (skopeo's syntax). The root is the manifest or
 * index the tag names; a digest reference is checked against the bytes, since the registry's word
 * is not proof. Blobs stream straight from the registry; the copy engine verifies them.
 */
import type { Readable } from 'node:stream';
import { digestOf } from '../../digest/index.js';
import { CairnError } from '../../errors.js';
import { isIndexType, isManifestType } from '../../oci/index.js';
import type { Descriptor } from '../../oci/types.js';
import type { ImageSource, RootDocument } from '../types.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import type { RegistryReference } from './reference.js';

export function openRegistrySource(reference: RegistryReference, options: RegistryOptions = {}): ImageSource {
  return new RegistrySource(new RegistryClient(reference, 'pull', options));
}

class RegistrySource implements ImageSource {
  readonly #client: RegistryClient;

  constructor(client: RegistryClient) {
    this.#client = client;
  }

  get description(): string {
    return this.#client.description;
  }

  async root(): Promise<RootDocument> {
    const { digest, tag } = this.#client.reference;
    const { bytes, mediaType } = await this.#client.getManifest(digest ?? tag ?? 'latest');
    const actual = digestOf(bytes);
    if (digest !== undefined && actual !== digest) {
      throw new CairnError('digest-mismatch', `${this.description}: the registry returned a manifest that hashes to ${actual}`, { expected: digest, actual });
    }
    return { descriptor: { mediaType: mediaType ?? declaredMediaType(bytes), digest: actual, size: bytes.length }, bytes };
  }

  async readDocument(descriptor: Descriptor): Promise<Buffer> {
    if (isManifestType(descriptor.mediaType) || isIndexType(descriptor.mediaType)) {
      return (await this.#client.getManifest(descriptor.digest)).bytes;
    }
    return this.#client.readBlob(descriptor.digest, descriptor.size, `config ${descriptor.digest}`);
  }

  openBlob(descriptor: Descriptor): Promise<Readable> {
    return this.#client.openBlob(descriptor.digest);
  }

  async close(): Promise<void> {}
}

/** The `mediaType` a document declares, for registries that serve manifests as plain JSON. */
function declaredMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    return Array.isArray(doc.manifests) ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json';
  } catch {
    return 'application/vnd.oci.image.manifest.v1+json';
  }
}
