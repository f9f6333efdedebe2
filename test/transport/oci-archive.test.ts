// oci-archive: BuildKit's OCI tarballs from dive (uncompressed, gzip, zstd, estargz layers), archives
// written by the real skopeo and by GNU tar (`./` names), reference matching checked against skopeo,
// and our writer read back by skopeo, deterministic and leaving nothing behind.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { MediaType, parseIndex, parseManifest } from '../../src/oci/index.js';
import { ArchiveIndex } from '../../src/transport/archive-index.js';
import { copyImage } from '../../src/transport/copy.js';
import { openOciArchive, openOciArchiveDestination, openOciArchiveSource } from '../../src/transport/oci-archive.js';
import { openOciLayoutDestination } from '../../src/transport/oci-layout.js';
import type { ImageSource } from '../../src/transport/types.js';
import { copyLayout, handLayout } from '../support/hand-layout.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { skipWithoutTools } from '../support/tools.js';
import { removeDir, tempDir } from '../support/images.js';
import { failure } from '../support/errors.js';

const run = promisify(execFile);
const dive = (f: string): string => conformancePath('dive', '.data', f);
const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let tmp: string;
beforeEach(async () => (tmp = await tempDir('cairn-oci-archive-')));
afterEach(() => removeDir(tmp));


/** The root, its manifest (through one index level), and every blob checked against its descriptor. */
async function inspect(source: ImageSource) {
  const root = await source.root();
  expect(digestOf(root.bytes)).toBe(root.descriptor.digest);
  let manifestBytes = root.bytes;
  if (root.descriptor.mediaType === MediaType.OciIndex) {
    const first = parseIndex(root.bytes, 'index').manifests[0]!;
    manifestBytes = await source.readDocument(first);
  }
  const manifest = parseManifest(manifestBytes, 'manifest');
  const config = await source.readDocument(manifest.config);
  expect(sha256(config)).toBe(manifest.config.digest);
  for (const layer of manifest.layers) expect(sha256(await buffer(await source.openBlob(layer)))).toBe(layer.digest);
  return { root, manifest };
}

async function load(file: string, ref?: string) {
  const source = await openOciArchiveSource(file, ref === undefined ? {} : { ref });
  try {
    return { ...(await inspect(source)), names: source.names };
  } finally {
    await source.close();
  }
}

describe.skipIf(!hasShared)('BuildKit OCI tarballs (dive)', () => {
  it.each([
    ['test-oci-uncompressed-image.tar', MediaType.OciLayer, 'sha256:5cec6b4ce61c35c3a83e09d72d81a335b49fdcef727beee160d12eeaf066f11b'],
    ['test-oci-gzip-image.tar', MediaType.OciLayerGzip, 'sha256:7d255e9e3d216a9a92a5c1ce0563a5ddd92f28a34a9df025d3cf8dfa5ea08366'],
    ['test-oci-zstd-image.tar', MediaType.OciLayerZstd, 'sha256:f5e3515f39a16543547c03d03ec34faf9276742e6ce7c7dd6e467a14e90b29fc'],
    ['test-oci-estargz-image.tar', MediaType.OciLayerGzip, 'sha256:2e75eb783d1a845ce3846d1a7da4453f825886aab5b3ad03afcec7730a208c4d'],
  ])('%s: the only entry, served from offsets', async (file, layerType, digest) => {
    const image = await load(dive(file));
    expect(image.root.descriptor.digest).toBe(digest);
    expect(image.root.descriptor.annotations).toBeUndefined();
    expect(image.manifest.layers.map((l) => l.mediaType)).toEqual([layerType]);
  });

  it('our writer reproduces a BuildKit archive\'s images: same manifest digest, and skopeo agrees', async () => {
    const scratch = path.join(tmp, 'scratch');
    const out = path.join(tmp, 'out.tar');
    const source = await openOciArchiveSource(dive('test-oci-zstd-image.tar'));
    const destination = await openOciArchiveDestination(out, { tmpDir: scratch });
    await copyImage({ source, destination, names: ['zstd'] });
    await destination.close();
    await source.close();
    expect(await readdir(scratch)).toEqual([]);
    const image = await load(out, 'zstd');
    expect(image.root.descriptor.digest).toBe('sha256:f5e3515f39a16543547c03d03ec34faf9276742e6ce7c7dd6e467a14e90b29fc');
    expect(image.names).toEqual(['zstd']);
  });

  it.skipIf(skipWithoutTools('zstd'))('a zstd-compressed archive is decompressed under tmpDir and cleaned up on close', async () => {
    const file = path.join(tmp, 'image.tar.zst');
    await run('zstd', ['-q', '-o', file, dive('test-oci-gzip-image.tar')]);
    const scratch = path.join(tmp, 'scratch');
    await mkdir(scratch);
    const source = await openOciArchiveSource(file, { tmpDir: scratch });
    expect((await inspect(source)).root.descriptor.digest).toBe('sha256:7d255e9e3d216a9a92a5c1ce0563a5ddd92f28a34a9df025d3cf8dfa5ea08366');
    await source.close();
    expect(await readdir(scratch)).toEqual([]);
  });

  it('a docker-archive is not an OCI archive; a blob missing from the tar fails naming it', async () => {
    const docker = conformancePath('go-containerregistry', 'pkg', 'v1', 'tarball', 'testdata', 'test_image_1.tar');
    const err = await failure(openOciArchiveSource(docker));
    expect(err).toMatchObject({ code: 'invalid-archive' });
    expect(err.message).toContain(docker);

    const dir = path.join(tmp, 'holey');
    await mkdir(dir);
    await run('tar', ['-xf', dive('test-oci-gzip-image.tar'), '-C', dir]);
    const manifest = parseManifest(await readFile(path.join(dir, 'blobs/sha256/7d255e9e3d216a9a92a5c1ce0563a5ddd92f28a34a9df025d3cf8dfa5ea08366')), 'm');
    const layer = manifest.layers[0]!;
    await unlink(path.join(dir, 'blobs', 'sha256', layer.digest.slice(7)));
    const file = path.join(tmp, 'holey.tar');
    await run('tar', ['-C', dir, '-cf', file, '.']);
    const source = await openOciArchiveSource(file);
    const missing = await failure(source.openBlob(layer));
    expect(missing.code).toBe('invalid-archive');
    expect(missing.message).toContain(layer.digest.slice(7));
    expect(missing.message).toContain(file);
    await source.close();
  });
});

describe.skipIf(skipWithoutTools('skopeo', 'tar', 'gzip'))('with the real skopeo', () => {
  const skopeo = (...args: string[]) => run('skopeo', ['--tmpdir', tmp, ...args], { maxBuffer: 64 << 20 });

  it('reads an archive skopeo wrote: same manifest and config digests', async () => {
    const made = await handLayout(tmp);
    const file = path.join(tmp, 'skopeo.tar');
    await skopeo('copy', `oci:${made.layout}:t`, `oci-archive:${file}:t`);
    const image = await load(file, 't');
    expect(image.root.descriptor.digest).toBe(made.manifest);
    expect(image.manifest.config.digest).toBe(made.config);
    expect(image.names).toEqual(['t']);
  });

  it('reads a GNU tar of a layout (`./` member names)', async () => {
    const made = await handLayout(tmp);
    const file = path.join(tmp, 'gnu.tar');
    await run('tar', ['-C', made.layout, '-cf', file, '.']);
    const archive = await ArchiveIndex.open(file);
    expect(archive.entry('./index.json')?.name).toBe('index.json');
    await archive.close();
    expect((await load(file)).manifest.config.digest).toBe(made.config);
  });

  it('REF matches the ref.name annotation exactly, as skopeo does (no short-tag form)', async () => {
    const made = await handLayout(tmp, 'docker.io/library/foo:1.0');
    const file = path.join(tmp, 'named.tar');
    await run('tar', ['-C', made.layout, '-cf', file, '.']);
    for (const ref of ['docker.io/library/foo:1.0', '1.0', 'foo:1.0']) {
      const theirs = await skopeo('inspect', '--raw', `oci-archive:${file}:${ref}`).then(
        () => 'found',
        () => 'not found',
      );
      const ours = await load(file, ref).then(
        () => 'found',
        (err: unknown) => (isCairnError(err, 'not-found') ? 'not found' : String(err)),
      );
      expect(ours, ref).toBe(theirs);
    }
    expect((await load(file, `@${made.manifest}`)).manifest.config.digest).toBe(made.config);
  });

  it('writes an archive skopeo reads: inspect, and copy back to a layout with the same digests', async () => {
    const made = await handLayout(tmp);
    const file = path.join(tmp, 'ours.tar');
    const scratch = path.join(tmp, 'scratch');
    await copyLayout(made.layout, await openOciArchiveDestination(file, { tmpDir: scratch }), ['t']);
    expect(await readdir(scratch)).toEqual([]);
    const inspected = JSON.parse((await skopeo('inspect', `oci-archive:${file}:t`)).stdout) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(made.manifest);
    const back = path.join(tmp, 'back');
    await skopeo('copy', `oci-archive:${file}:t`, `oci:${back}:t`);
    const manifest = JSON.parse((await skopeo('inspect', '--raw', `oci:${back}:t`)).stdout) as { config: { digest: string } };
    const config = JSON.parse((await skopeo('inspect', '--config', '--raw', `oci:${back}:t`)).stdout) as { rootfs: { diff_ids: string[] } };
    expect(manifest.config.digest).toBe(made.config);
    expect(config.rootfs.diff_ids).toEqual([made.diffId]);
    // Member order: oci-layout, index.json, blobs/, blobs/sha256/, blobs by digest.
    const { stdout } = await run('tar', ['-tf', file]);
    const names = stdout.trim().split('\n');
    expect(names.slice(0, 4)).toEqual(['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
    expect(names.slice(4)).toEqual([...names.slice(4)].sort());
  });

  it('is deterministic, and replaces an existing file atomically', async () => {
    const made = await handLayout(tmp);
    const [one, two] = [path.join(tmp, 'one.tar'), path.join(tmp, 'two.tar')];
    await writeFile(two, 'old contents');
    await copyLayout(made.layout, await openOciArchiveDestination(one, { tmpDir: path.join(tmp, 's1') }), ['t', 'u']);
    await copyLayout(made.layout, await openOciArchiveDestination(two, { tmpDir: path.join(tmp, 's2') }), ['t', 'u']);
    expect(sha256(await readFile(one))).toBe(sha256(await readFile(two)));
    expect((await load(two, 'u')).names).toEqual(['t', 'u']);
    // One index, two entries, served without re-reading the file.
    const archive = await openOciArchive(two);
    expect(archive.entries.map((e) => e.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['t', 'u']);
    for (const ref of ['t', 'u']) {
      const source = await archive.source(ref);
      expect((await inspect(source)).manifest.config.digest).toBe(made.config);
      await source.close();
    }
    await archive.close();
    expect((await readdir(tmp)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('destination safety', () => {
  it('commit refuses an image whose layer was never written, and writes nothing', async () => {
    const file = path.join(tmp, 'never.tar');
    const scratch = path.join(tmp, 'scratch');
    const destination = await openOciArchiveDestination(file, { tmpDir: scratch });
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const configDescriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDescriptor,
        layers: [{ mediaType: MediaType.OciLayerGzip, digest: digestOf('absent'), size: 6 }],
      }),
    );
    const descriptor = { mediaType: MediaType.OciManifest, digest: digestOf(manifest), size: manifest.length };
    await destination.putDocument(configDescriptor, config);
    await destination.putDocument(descriptor, manifest);
    const err = await failure(destination.commit([{ descriptor, names: ['x'] }]));
    expect(err.code).toBe('not-found');
    await destination.close();
    await destination.close();
    await expect(stat(file)).rejects.toThrow();
    expect(await readdir(scratch)).toEqual([]);
  });

  it('putBlob verifies the digest while writing', async () => {
    const destination = await openOciArchiveDestination(path.join(tmp, 'x.tar'), { tmpDir: path.join(tmp, 'scratch') });
    const { Readable } = await import('node:stream');
    const err = await failure(
      destination.putBlob({ mediaType: MediaType.OciLayer, digest: digestOf('right'), size: 5 }, Readable.from([Buffer.from('wrong')]), 'layer 1'),
    );
    expect(err.code).toBe('digest-mismatch');
    expect(await destination.hasBlob(digestOf('right'))).toBe(false);
    await destination.close();
  });
});

// Keep the layout destination import used: a round trip archive → layout through our own code.
describe.skipIf(!hasShared)('archive → layout', () => {
  it('copies a dive OCI tarball into an oci: layout', async () => {
    const source = await openOciArchiveSource(dive('test-oci-gzip-image.tar'));
    const destination = await openOciLayoutDestination(path.join(tmp, 'layout'), 'x');
    const record = await copyImage({ source, destination, names: ['x'] });
    await destination.close();
    await source.close();
    expect(record.descriptor.digest).toBe('sha256:7d255e9e3d216a9a92a5c1ce0563a5ddd92f28a34a9df025d3cf8dfa5ea08366');
  });
});
