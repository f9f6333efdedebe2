// The store is an OCI image layout that other tools read as it is (design §1): skopeo inspects
// and copies images out of it by `oci:<store>:name:tag`, oci-image-tool validates it, umoci lists
// its tags — with cairn's own directory, a dangling entry and meta beside the layout.
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/digest/index.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { makeImage, removeDir, tempStore, type TestImage } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';

const run = promisify(execFile);
let dir: string;
let store: Store;

beforeEach(async () => ({ dir, store } = await tempStore('cairn-interop-', { subdir: 'store' })));
afterEach(() => removeDir(dir));

/** A store as users leave it: several tags (one with a registry host), a dangling image, meta, cairn/tmp. */
async function populate(): Promise<Record<string, TestImage>> {
  const images = {
    'app:1': await makeImage(store, { layers: [{ 'etc/os-release': 'ID=cairn\n' }, { 'srv/app': 'app v1\n' }], tag: 'app:1' }),
    'localhost:5000/team/tool:v2.0-rc_1': await makeImage(store, { files: { 'bin/tool': '#!/bin/sh\n' }, tag: 'localhost:5000/team/tool:v2.0-rc_1' }),
  };
  await store.setTag('app:latest', images['app:1'].descriptor);
  await makeImage(store, { files: { old: 'dangling\n' }, tag: null });
  await store.withMeta((meta) => meta.buildCache.put('step', { gcRoots: [images['app:1'].descriptor.digest] }));
  return { ...images, 'app:latest': images['app:1'] };
}

describe.skipIf(skipWithoutTools('skopeo', 'oci-image-tool', 'umoci'))('other tools read the store', () => {
  it('skopeo inspect oci:<store>:name:tag reports the tagged digest, and --raw gives the manifest bytes', async () => {
    const images = await populate();
    for (const [ref, image] of Object.entries(images)) {
      const { stdout } = await run('skopeo', ['inspect', `oci:${store.root}:${ref}`]);
      const info = JSON.parse(stdout) as { Digest: string; Layers: string[] };
      expect(info.Digest, ref).toBe(image.descriptor.digest);
      expect(info.Layers, ref).toEqual(image.layers);
      const raw = await run('skopeo', ['inspect', '--raw', `oci:${store.root}:${ref}`], { encoding: 'buffer' });
      expect(digestOf(raw.stdout as unknown as Buffer), ref).toBe(image.descriptor.digest);
    }
  });

  it('skopeo copies an image out of the store, and cairn copies it back to the same digest', async () => {
    const images = await populate();
    const out = path.join(dir, 'out');
    await run('skopeo', ['copy', '--tmpdir', dir, `oci:${store.root}:app:1`, `oci:${out}:exported`]);
    const fresh = await Store.open(path.join(dir, 'fresh'));
    const record = await copy(`oci:${out}:exported`, 'app:1', { store: fresh });
    expect(record.descriptor.digest).toBe(images['app:1']!.descriptor.digest);
  });

  it('oci-image-tool validate --type image accepts the store (every ref, every blob hashed), and catches a corrupt layer', async () => {
    // (Not `--ref name=…`: oci-image-tool 1.x filters index.json entries while deleting from the
    // slice it iterates, so with three or more entries it reports "not unique" for any name.)
    const images = await populate();
    const all = await run('oci-image-tool', ['validate', '--type', 'image', store.root]);
    expect(all.stdout).toContain('Validation succeeded');

    // The control: the same validator fails once a layer's bytes are wrong.
    const layer = store.blobs.path(images['app:1']!.layers[1]!);
    await chmod(layer, 0o644);
    const bytes = await readFile(layer);
    bytes[10] = (bytes[10] ?? 0) ^ 0xff;
    await writeFile(layer, bytes);
    await expect(run('oci-image-tool', ['validate', '--type', 'image', store.root])).rejects.toThrow(/digest mismatch/);
  });

  it('a prepared store with no images yet is already a valid (empty) layout: index.json exists', async () => {
    await store.prepare();
    expect(JSON.parse(await readFile(path.join(store.root, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    const result = await run('oci-image-tool', ['validate', '--type', 'image', store.root]);
    expect(result.stdout).toContain('Validation succeeded');
  });

  it('umoci ls lists exactly the tags (the dangling entry has no name)', async () => {
    const images = await populate();
    const { stdout } = await run('umoci', ['ls', '--layout', store.root]);
    expect(stdout.trim().split('\n').sort()).toEqual(Object.keys(images).sort());
  });

  it('a docker-valid name outside the image-spec ref.name grammar is stored, but skopeo cannot name it', async () => {
    // docker allows `__` and runs of `-` in names; image-spec annotations.md's ref.name grammar
    // does not, and skopeo's oci: transport enforces it. Recorded in spec-notes/image-layout.md.
    const image = await makeImage(store, { files: { f: 'x' }, tag: 'my__app:1' });
    expect((await store.getTag('my__app:1'))?.digest).toBe(image.descriptor.digest);
    await expect(run('skopeo', ['inspect', `oci:${store.root}:my__app:1`])).rejects.toThrow(/Invalid image/);
    const all = await run('oci-image-tool', ['validate', '--type', 'image', store.root]);
    expect(all.stdout).toContain('Validation succeeded');
  });
});
