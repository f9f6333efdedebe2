/**
 * Every real fixture image (built by umoci, buildah, podman and skopeo) imports into the store
 * with its manifest and config digests unchanged, and the store itself stays a layout that
 * skopeo and oci-image-tool read.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import { fsck } from '../../src/store/fsck.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { fixtures, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { removeDir, tempStore } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';

describe.skipIf(skipWithoutFixtures() || skipWithoutTools('skopeo', 'oci-image-tool'))('importing the fixture images', () => {
  let dir: string;
  let store: Store;
  const images = () => Object.values(fixtures().set?.images ?? {}).filter((i) => i.kind !== 'dir');

  beforeAll(async () => ({ dir, store } = await tempStore('cairn-import-', { subdir: 'store' })));
  afterAll(() => removeDir(dir));

  it('imports each one with its digests unchanged', async () => {
    expect(images().length).toBeGreaterThanOrEqual(10);
    for (const image of images()) {
      const name = `fixtures/${image.name.replace(/[^a-z0-9]+/g, '-')}:t`;
      const record = await copy(transportRef(image), name, { store, all: true });
      // A docker archive has no manifest: the store gets an OCI one (as skopeo makes).
      if (image.manifestDigest !== null) expect(record.descriptor.digest, image.name).toBe(image.manifestDigest);
      else expect(record.descriptor.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      if (image.configDigest !== null) {
        const resolved = await resolveImage(store, name);
        expect(resolved.id, image.name).toBe(image.configDigest);
        expect(resolved.manifest.layers.length, image.name).toBe(image.layers.length);
      }
    }
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('is a layout skopeo inspects and oci-image-tool validates', async () => {
    const umoci3 = images().find((i) => i.name === 'busybox/oci-umoci:3');
    expect(umoci3).toBeDefined();
    const name = 'fixtures/busybox-oci-umoci-3:t';
    const out = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${store.root}:${name}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    expect(out.Digest).toBe(umoci3?.manifestDigest);
    expect(out.Layers).toEqual(umoci3?.layers);
    // Debian's oci-image-tool 1.0.0-rc1 predates the zstd layer media type, and calls a ref "not
    // unique" when an index in the same layout also lists its manifest: validate a store holding
    // every other fixture, and the index in a store of its own.
    const plain = images().filter((i) => i.name !== 'busybox/oci-zstd:3' && i.name !== 'busybox/oci-index:1');
    const index = images().filter((i) => i.name === 'busybox/oci-index:1');
    for (const [n, group] of [plain, index].entries()) {
      const other = await Store.open(path.join(dir, `validate-${n}`));
      for (const image of group) await copy(transportRef(image), `fixtures/v:${n}-${group.indexOf(image)}`, { store: other, all: true });
      const validate = spawnSync('oci-image-tool', ['validate', '--type', 'image', other.root], { encoding: 'utf8' });
      expect(validate.status, validate.stderr).toBe(0);
      expect(validate.stdout).toContain('Validation succeeded');
      expect(validate.stdout).toContain('verify all refs');
    }
  });

  it('picks the host platform from an index, or copies the whole index with --all', async () => {
    const index = images().find((i) => i.name === 'busybox/oci-index:1');
    if (!index) throw new Error('index fixture missing');
    const single = await copy(transportRef(index), 'fixtures/index-host:1', { store });
    const amd64 = index.manifests?.find((m) => m.platform?.architecture === 'amd64');
    expect(single.descriptor.digest).toBe(amd64?.digest);
    const arm = await copy(transportRef(index), 'fixtures/index-arm:1', { store, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    expect(arm.descriptor.digest).toBe(index.manifests?.find((m) => m.platform?.architecture === 'arm64')?.digest);
    const all = await copy(transportRef(index), 'fixtures/index-all:1', { store, all: true });
    expect(all.descriptor.digest).toBe(index.manifestDigest);
  });
});
