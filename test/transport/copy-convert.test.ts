/**
 * Format conversion in the copy engine. OCI ↔ Docker schema 2 rewrites media types only (the
 * config and layer blobs keep their digests); OCI layouts, the store included, hold only OCI
 * manifests (containers/image ignores other entries), so Docker sources are converted on the
 * way in and skopeo sees them.
 */
import { spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, type Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { resolveImage } from '../../src/image/resolve.js';
import { MediaType, parseManifest, type Descriptor } from '../../src/oci/index.js';
import type { Store } from '../../src/store/store.js';
import { copyImage } from '../../src/transport/copy.js';
import { copy, openSource, parseTransportName } from '../../src/transport/open.js';
import type { ImageDestination, ImageRecord } from '../../src/transport/types.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempStore } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';

/** A destination that holds Docker schema 2 only, in memory, verifying what it is given. */
class DockerOnlyDestination implements ImageDestination {
  readonly description = 'memory (docker only)';
  readonly accepts = { oci: false, docker: true, index: false } as const;
  readonly blobs = new Map<Digest, Buffer>();
  committed: ImageRecord[] = [];
  async hasBlob(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }
  async putBlob(descriptor: Descriptor, bytes: Readable): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of bytes) chunks.push(chunk as Buffer);
    await this.putDocument(descriptor, Buffer.concat(chunks));
  }
  async putDocument(descriptor: Descriptor, bytes: Buffer): Promise<void> {
    if (digestOf(bytes) !== descriptor.digest) throw new Error(`bad bytes for ${descriptor.digest}`);
    this.blobs.set(descriptor.digest, bytes);
  }
  async commit(images: readonly ImageRecord[]): Promise<void> {
    this.committed.push(...images);
  }
  async close(): Promise<void> {}
}

describe.skipIf(skipWithoutFixtures('busybox/oci-umoci:3', 'busybox/oci-zstd:3', 'busybox/docker-archive:3') || skipWithoutTools('skopeo'))('format conversion', () => {
  let dir: string;
  let store: Store;
  beforeAll(async () => ({ dir, store } = await tempStore('cairn-convert-', { subdir: 'store' })));
  afterAll(() => removeDir(dir));

  it('converts OCI to Docker schema 2 for a destination that holds only Docker, keeping blob digests', async () => {
    const source = fixture('busybox/oci-umoci:3');
    const destination = new DockerOnlyDestination();
    const src = await openSource(parseTransportName(transportRef(source)), store);
    const record = await copyImage({ source: src, destination, names: ['x:1'] });
    expect(record.descriptor.mediaType).toBe(MediaType.DockerManifest);
    expect(destination.committed).toEqual([record]);
    const manifest = parseManifest(destination.blobs.get(record.descriptor.digest) ?? Buffer.alloc(0), 'converted');
    expect(manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(manifest.config).toEqual({ mediaType: MediaType.DockerConfig, digest: source.configDigest, size: expect.any(Number) });
    expect(manifest.layers.map((l) => l.digest)).toEqual(source.layers);
    expect(new Set(manifest.layers.map((l) => l.mediaType))).toEqual(new Set([MediaType.DockerLayerGzip]));
  });

  it('maps zstd layers to the containers/image Docker type', async () => {
    const destination = new DockerOnlyDestination();
    const src = await openSource(parseTransportName(transportRef(fixture('busybox/oci-zstd:3'))), store);
    const record = await copyImage({ source: src, destination });
    const manifest = parseManifest(destination.blobs.get(record.descriptor.digest) ?? Buffer.alloc(0), 'converted');
    expect(manifest.layers.every((l) => l.mediaType === MediaType.DockerLayerZstd)).toBe(true);
  });

  it('converts a docker archive to OCI in the store, where skopeo sees it', async () => {
    const archive = fixture('busybox/docker-archive:3');
    const record = await copy(transportRef(archive), 'conv:from-docker', { store });
    expect(record.descriptor.mediaType).toBe(MediaType.OciManifest);
    const image = await resolveImage(store, 'conv:from-docker');
    expect(image.id).toBe(archive.configDigest);
    expect(image.manifest.config.mediaType).toBe(MediaType.OciConfig);
    const inspect = spawnSync('skopeo', ['inspect', `oci:${store.root}:conv:from-docker`], { encoding: 'utf8' });
    expect(inspect.status, inspect.stderr).toBe(0);
    expect((JSON.parse(inspect.stdout) as { Layers: string[] }).Layers).toEqual(archive.diffIds);
  });

  it('refuses --format docker into a layout, naming it', async () => {
    const err = await copy(transportRef(fixture('busybox/oci-umoci:3')), 'conv:docker', { store, format: 'docker' }).catch((e: unknown) => e);
    expect(isCairnError(err, 'unsupported')).toBe(true);
    expect((err as Error).message).toBe(`store ${store.root} cannot hold docker images`);
    expect((await store.listTags()).some((t) => t.tag === 'docker')).toBe(false);
  });
});
