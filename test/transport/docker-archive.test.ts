// docker-archive: reading every docker-save archive of the conformance set (ggcr, containers/image,
// dive) with their documented expectations, broken and corrupt archives, and round trips with the
// real skopeo (our reader on skopeo's archives, skopeo on ours). Rules: spec-notes/docker-archive.md.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/digest/index.js';
import { MediaType, parseManifest } from '../../src/oci/index.js';
import { packTar } from '../../src/tar/index.js';
import { ArchiveIndex } from '../../src/transport/archive-index.js';
import { copyImage } from '../../src/transport/copy.js';
import { openDockerArchive, openDockerArchiveDestination, openDockerArchiveSource, type DockerArchiveSource } from '../../src/transport/docker-archive.js';
import { openOciLayoutSource } from '../../src/transport/oci-layout.js';
import { copyLayout, handLayout } from '../support/hand-layout.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { hermeticContainersEnv, skipWithoutTools } from '../support/tools.js';
import { openOciArchiveSource } from '../../src/transport/oci-archive.js';
import { removeDir, tempDir } from '../support/images.js';
import { failure } from '../support/errors.js';

const run = promisify(execFile);
const ggcr = (...p: string[]): string => conformancePath('go-containerregistry', 'pkg', 'v1', ...p);
const dive = (f: string): string => conformancePath('dive', '.data', f);

let tmp: string;
beforeEach(async () => (tmp = await tempDir('cairn-docker-archive-')));
afterEach(() => removeDir(tmp));

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Everything a source says about its image, every blob read back and checked against its descriptor. */
async function inspect(source: DockerArchiveSource) {
  const root = await source.root();
  expect(digestOf(root.bytes)).toBe(root.descriptor.digest);
  const manifest = parseManifest(root.bytes, 'synthesized manifest');
  const config = await source.readDocument(manifest.config);
  expect(sha256(config)).toBe(manifest.config.digest);
  for (const layer of manifest.layers) {
    const bytes = await buffer(await source.openBlob(layer));
    expect(sha256(bytes)).toBe(layer.digest);
    expect(bytes.length).toBe(layer.size);
  }
  const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
  return { root, manifest, config, diffIds, names: source.image.names };
}

async function load(file: string, options: Parameters<typeof openDockerArchiveSource>[1] = {}) {
  const source = await openDockerArchiveSource(file, options);
  try {
    return await inspect(source);
  } finally {
    await source.close();
  }
}


describe.skipIf(!hasShared)('conformance docker-save archives', () => {
  const cases: { file: string; ref?: string; names: string[]; layers: number; config: string; gzip?: boolean }[] = [
    { file: ggcr('tarball/testdata/test_image_1.tar'), names: ['bazel/v1/tarball:test_image_1'], layers: 1, config: '6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e' },
    { file: ggcr('tarball/testdata/test_image_2.tar'), names: ['bazel/v1/tarball:test_image_2'], layers: 1, config: '930705ce23e3b6ed4c08746b6fe880089c864fbaf62482702ae3fdd66b8c7fe9' },
    { file: ggcr('tarball/testdata/test_load_manifest.tar'), names: ['bazel/v1/tarball:test_image_1'], layers: 1, config: '6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e' },
    { file: ggcr('tarball/testdata/test_link.tar'), ref: 'bazel/v1/tarball:test_image_3', names: ['bazel/v1/tarball:test_image_3'], layers: 2, config: 'd4c9adacde69c3d92446e0484cea29493e9fd573cf0c8febfc700d80c46697a4' },
    { file: ggcr('tarball/testdata/hello-world-v25.tar'), names: [], layers: 1, config: 'ee301c921b8aadc002973b2e0c3da17d701dcd994b606769a7e6eaa100b81d44' },
    { file: ggcr('mutate/testdata/whiteout_image.tar'), names: ['bazel/pkg/v1/mutate:whiteout_image'], layers: 3, config: 'decb630649c3e1256345d416b228d6c3ceb387a55120ad44dc3ec992976d28b9' },
    { file: ggcr('mutate/testdata/whiteout_dir.tar'), names: ['localhost:5000/whiteout:latest'], layers: 4, config: '92f1e3d53acdc7e137e73869abc4e87aba6614440a31723423790ca0d5db9111', gzip: true },
    { file: ggcr('mutate/testdata/overwritten_file.tar'), names: ['bazel/pkg/v1/mutate:overwritten_file'], layers: 3, config: '68f6eb746cdb287658796ba120849bb77be87040a155fbefb89c96f109c0703a' },
    { file: ggcr('mutate/testdata/source_image.tar'), names: ['bazel/pkg/v1/mutate:source_image'], layers: 1, config: '6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e' },
    // The config was edited by hand and kept its old name (6e0b…json): names of configs are not promises.
    { file: ggcr('mutate/testdata/source_image_with_empty_layer_history.tar'), names: ['bazel/pkg/v1/mutate:source_image'], layers: 1, config: '05b5ec1290589606ce19fabb1fb331f004acd9f618b9b4e813721be1a03a0712' },
    { file: conformancePath('containers-image', 'docker', 'archive', 'fixtures', 'almostempty.tar'), names: ['emptyimage:latest'], layers: 1, config: '9d7f147c0d0c4d4538a04c7ef385809e56eb1aac7bf800fbe976612188025b68' },
    { file: dive('test-docker-image.tar'), names: ['dive-test:latest'], layers: 14, config: '75ae28b8ebf89b203319069ddcbecdf5c3838503bbebc0d0d85e4b8589c5de3a' },
    { file: dive('test-kaniko-image.tar'), names: ['dive-test:kaniko-latest'], layers: 14, config: 'ae16a51058a758c7963b2f9b23d1acfa201ce9cbefc8cb93845f8cd934fb144d', gzip: true },
  ];

  it.each(cases.map((c) => ({ ...c, name: path.basename(c.file) })))('reads $name', async ({ file, ref, names, layers, config, gzip }) => {
    const image = await load(file, ref === undefined ? {} : { ref });
    expect(image.names).toEqual(names);
    expect(image.manifest.config.digest).toBe(`sha256:${config}`);
    expect(image.manifest.layers).toHaveLength(layers);
    expect(image.diffIds).toHaveLength(layers);
    for (const [i, layer] of image.manifest.layers.entries()) {
      // Uncompressed members are their own diffID; gzip members are labelled by their magic.
      if (gzip) expect(layer.mediaType).toBe(MediaType.DockerLayerGzip);
      else {
        expect(layer.mediaType).toBe(MediaType.DockerLayer);
        expect(layer.digest).toBe(image.diffIds[i]);
      }
    }
    // Two loads, one manifest digest.
    expect((await load(file, ref === undefined ? {} : { ref })).root.descriptor.digest).toBe(image.root.descriptor.digest);
  });

  it('a docker save symlinked layer serves the bytes of the layer it links to (test_link.tar)', async () => {
    const image = await load(ggcr('tarball/testdata/test_link.tar'), { ref: 'bazel/v1/tarball:test_image_3' });
    const first = image.manifest.layers[0];
    expect(first?.digest).toBe('sha256:8897395fd26dc44ad0e2a834335b33198cb41ac4d98dfddf58eced3853fa7b17');
    expect(first?.size).toBe(10240);
    const archive = await ArchiveIndex.open(ggcr('tarball/testdata/test_link.tar'));
    expect(archive.entry('./b159278ac0c8813245b6c3b22cbbe7abefe3b2ec3fac6c7e87138811e1ef2a88/layer.tar')?.type).toBe('symlink');
    expect(archive.resolve('b159278ac0c8813245b6c3b22cbbe7abefe3b2ec3fac6c7e87138811e1ef2a88/layer.tar')?.name).toBe(
      '6e77476643c3155b1e9ae07dd5a4c8288bdb6590c131c222b7a3f277dec1e266/layer.tar',
    );
    await archive.close();
  });

  it('several images: no ref is an error listing the tags; docker name normalisation picks one (test_bundle.tar)', async () => {
    const file = ggcr('tarball/testdata/test_bundle.tar');
    const ambiguous = await failure(openDockerArchiveSource(file));
    expect(ambiguous.code).toBe('invalid-argument');
    expect(ambiguous.message).toContain('test_image_1');
    expect(ambiguous.message).toContain('test_image_2');
    const one = '6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e';
    const two = '930705ce23e3b6ed4c08746b6fe880089c864fbaf62482702ae3fdd66b8c7fe9';
    for (const [ref, config] of [
      ['test_image_1', one],
      ['test_image_2', two],
      ['test_image_1:latest', one],
      ['test_image_2:latest', two],
      ['index.docker.io/library/test_image_1:latest', one],
      ['docker.io/library/test_image_2', two],
    ] as const) {
      expect((await load(file, { ref })).manifest.config.digest, ref).toBe(`sha256:${config}`);
    }
    expect((await load(file, { ref: 1 })).manifest.config.digest).toBe(`sha256:${one}`);
    expect((await load(file, { ref: '@0' })).manifest.config.digest).toBe(`sha256:${two}`);
    expect((await failure(openDockerArchiveSource(file, { ref: 'test_image_3' }))).code).toBe('not-found');
  });

  it('Docker 25+: when index.json names a manifest describing the image, that manifest is served', async () => {
    const dir = path.join(tmp, 'v25');
    await mkdir(dir);
    await run('tar', ['-xf', ggcr('tarball/testdata/hello-world-v25.tar'), '-C', dir]);
    // The ggcr fixture's index.json says "manifests": null; a real docker save lists the manifest.
    const manifest = '411caf340c828657e915a83ed561a79d2b8150dabad4dc079d881cbfe6f86afe';
    const index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: `sha256:${manifest}`, size: 447 }] };
    await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
    const file = path.join(tmp, 'v25.tar');
    await run('tar', ['-C', dir, '-cf', file, '.']);
    const image = await load(file);
    expect(image.root.descriptor).toEqual({ mediaType: MediaType.OciManifest, digest: `sha256:${manifest}`, size: 447 });
    expect(image.manifest.config.digest).toBe('sha256:ee301c921b8aadc002973b2e0c3da17d701dcd994b606769a7e6eaa100b81d44');
    // Without the listing, the synthesised Docker manifest (same config and layer).
    const plain = await load(ggcr('tarball/testdata/hello-world-v25.tar'));
    expect(plain.root.descriptor.mediaType).toBe(MediaType.DockerManifest);
    expect(plain.manifest.layers.map((l) => l.digest)).toEqual(image.manifest.layers.map((l) => l.digest));
  });

  it('openDockerArchive indexes once and serves every image; closing a source keeps the archive open', async () => {
    const archive = await openDockerArchive(ggcr('tarball/testdata/test_bundle.tar'));
    expect(archive.images.map((i) => i.names)).toEqual([['test_image_2'], ['test_image_1']]);
    const configs = [];
    for (const image of archive.images) {
      const source = await archive.source(image.index);
      configs.push((await inspect(source)).manifest.config.digest);
      await source.close();
    }
    expect(configs).toEqual([
      'sha256:930705ce23e3b6ed4c08746b6fe880089c864fbaf62482702ae3fdd66b8c7fe9',
      'sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e',
    ]);
    await archive.close();
    await archive.close();
  });

  it('dive test-docker-image.tar: the layer digests are the golden diffIDs of the export snapshot', async () => {
    const snap = await readFile(conformancePath('dive', 'cmd', 'dive', 'cli', 'internal', 'command', 'export', 'testdata', 'snapshots', 'export_test.snap'), 'utf8');
    const json = JSON.parse(snap.slice(snap.indexOf('{'), snap.lastIndexOf('}') + 1)) as { layer: { digestId: string }[] };
    const image = await load(dive('test-docker-image.tar'));
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(json.layer.map((l) => l.digestId));
  });

  it.each([
    ['no_manifest.tar', 'no manifest.json'],
    ['null_manifest.tar', 'manifest.json is null'],
  ])('%s fails with invalid-archive naming the file', async (name, why) => {
    const file = ggcr('tarball/testdata', name);
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('invalid-archive');
    expect(err.message).toContain(file);
    expect(err.message).toContain(why);
  });

  it('a gzip-compressed archive (docker save | gzip) is decompressed in tmpDir, which is empty after close', async () => {
    const plain = ggcr('tarball/testdata/test_image_1.tar');
    const file = path.join(tmp, 'image.tar.gz');
    await writeFile(file, gzipSync(await readFile(plain)));
    const scratch = path.join(tmp, 'scratch');
    await mkdir(scratch);
    expect((await failure(openDockerArchiveSource(file))).code).toBe('invalid-argument');
    const source = await openDockerArchiveSource(file, { tmpDir: scratch });
    expect(await readdir(scratch)).toHaveLength(1);
    const image = await inspect(source);
    await source.close();
    await source.close();
    expect(await readdir(scratch)).toEqual([]);
    expect(image.root.descriptor.digest).toBe((await load(plain)).root.descriptor.digest);
  });

  it('a corrupt uncompressed layer fails with digest-mismatch naming the member', async () => {
    const file = path.join(tmp, 'corrupt.tar');
    await copyFile(ggcr('tarball/testdata/test_image_1.tar'), file);
    const member = '555b1001d54ed229f56990845856f080b0707348b26b3aa85aaf58d5570cdee0/layer.tar';
    await flipByte(file, member, 600);
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain(member);
  });

  it('a corrupt gzip layer whose name is its digest fails with digest-mismatch (kaniko)', async () => {
    const file = path.join(tmp, 'corrupt-kaniko.tar');
    await copyFile(dive('test-kaniko-image.tar'), file);
    const member = '5a99c1aa63bbf4de393361eb196b89853c13bb61dc276cc103587107f338b8a0.tar.gz';
    await flipByte(file, member, 100);
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain(member);
  });

  it('a truncated archive fails with invalid-archive naming the file', async () => {
    const file = path.join(tmp, 'truncated.tar');
    const bytes = await readFile(ggcr('tarball/testdata/test_image_1.tar'));
    await writeFile(file, bytes.subarray(0, 5000));
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('invalid-archive');
    expect(err.message).toContain(file);
  });
});

/** Flips one content byte of `member` in the archive file (a copy). */
async function flipByte(file: string, member: string, at: number): Promise<void> {
  const archive = await ArchiveIndex.open(file);
  const entry = archive.resolve(member);
  await archive.close();
  if (entry === undefined) throw new Error(`${member} not in ${file}`);
  const handle = await open(file, 'r+');
  const one = Buffer.alloc(1);
  await handle.read(one, 0, 1, entry.offset + at);
  one[0] = (one[0] ?? 0) ^ 0xff;
  await handle.write(one, 0, 1, entry.offset + at);
  await handle.close();
}

describe('hand-made broken archives', () => {
  const config = (diffIds: string[]): Buffer => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  async function archive(members: Record<string, Buffer | { symlink: string }>): Promise<string> {
    const file = path.join(tmp, `made-${Object.keys(members).length}-${Math.random().toString(16).slice(2)}.tar`);
    const items = Object.entries(members).map(([name, body]) =>
      Buffer.isBuffer(body) ? { entry: { path: name, type: 'file' as const }, body } : { entry: { path: name, type: 'symlink' as const, linkname: body.symlink } },
    );
    await writeFile(file, await buffer(packTar(items)));
    return file;
  }
  const layer = Buffer.alloc(1024);

  it('a member manifest.json names but the archive lacks: invalid-archive naming the member', async () => {
    const file = await archive({
      'c.json': config([sha256(layer)]),
      'manifest.json': Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['missing/layer.tar'] }])),
    });
    const err = await failure(openDockerArchiveSource(file));
    expect(err).toMatchObject({ code: 'invalid-archive' });
    expect(err.message).toContain('missing/layer.tar');
    expect(err.message).toContain(file);
  });

  it('a dangling layer symlink: invalid-archive saying where it points', async () => {
    const file = await archive({
      'c.json': config([sha256(layer)]),
      'x/layer.tar': { symlink: '../gone/layer.tar' },
      'manifest.json': Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['x/layer.tar'] }])),
    });
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('invalid-archive');
    expect(err.message).toContain('../gone/layer.tar');
  });

  it('diff_ids count differs from the layer count: invalid-archive', async () => {
    const file = await archive({
      'c.json': config([]),
      'l.tar': layer,
      'manifest.json': Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['a:1'], Layers: ['l.tar'] }])),
    });
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('invalid-archive');
    expect(err.message).toContain('0 diff_ids');
  });

  it('an uncompressed layer that is not its diff_id: digest-mismatch naming the member', async () => {
    const file = await archive({
      'c.json': config([sha256(Buffer.from('other'))]),
      'l.tar': layer,
      'manifest.json': Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: null, Layers: ['./l.tar'] }])),
    });
    const err = await failure(openDockerArchiveSource(file));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain('./l.tar');
  });

  it('names come from the legacy repositories file when RepoTags is empty', async () => {
    const file = await archive({
      'c.json': config([sha256(layer)]),
      'abc/layer.tar': layer,
      repositories: Buffer.from(JSON.stringify({ 'old/name': { v1: 'abc' } })),
      'manifest.json': Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: [], Layers: ['abc/layer.tar'] }])),
    });
    expect((await load(file)).names).toEqual(['old/name:v1']);
    expect((await load(file, { ref: 'old/name:v1' })).manifest.layers).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Real skopeo

describe.skipIf(skipWithoutTools('skopeo', 'tar', 'gzip'))('with the real skopeo', () => {
  const skopeo = (...args: string[]) => run('skopeo', ['--tmpdir', tmp, ...args], { maxBuffer: 64 << 20 });

  it('reads an archive skopeo wrote, with the same config digest and skopeo\'s diffID digests', async () => {
    const made = await handLayout(tmp);
    const file = path.join(tmp, 'skopeo.tar');
    await skopeo('copy', `oci:${made.layout}:t`, `docker-archive:${file}:name/x:t`);
    const image = await load(file);
    expect(image.manifest.config.digest).toBe(made.config);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual([made.diffId]);
    expect(image.names).toEqual(['docker.io/name/x:t']);
    // skopeo's own view of its archive agrees on the layer digest (it uses the diffID too).
    const raw = JSON.parse((await skopeo('inspect', '--raw', `docker-archive:${file}`)).stdout) as { layers: { digest: string }[]; config: { digest: string } };
    expect(raw.config.digest).toBe(made.config);
    expect(raw.layers.map((l) => l.digest)).toEqual([made.diffId]);
  });

  it('writes what skopeo writes: skopeo reads it back, same config and diffIDs, same manifest.json and repositories', async () => {
    const made = await handLayout(tmp);
    const ours = path.join(tmp, 'ours.tar');
    const scratch = path.join(tmp, 'scratch');
    const name = 'docker.io/name/x:t';
    await copyLayout(made.layout, await openDockerArchiveDestination(ours, { tmpDir: scratch }), [name]);
    expect(await readdir(scratch)).toEqual([]);

    const inspected = JSON.parse((await skopeo('inspect', `docker-archive:${ours}`)).stdout) as { Layers: string[] };
    expect(inspected.Layers).toEqual([made.diffId]);
    // dir: keeps the image as it is; oci: makes skopeo convert the config to OCI (re-encoding it
    // with Go's escaping, so its digest changes the same way for skopeo's own archive).
    const dir = path.join(tmp, 'back-dir');
    await skopeo('copy', `docker-archive:${ours}`, `dir:${dir}`);
    const dirManifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    expect(dirManifest.config.digest).toBe(made.config);
    expect(dirManifest.layers.map((l) => l.digest)).toEqual([made.diffId]);
    const back = path.join(tmp, 'back');
    await skopeo('copy', `docker-archive:${ours}`, `oci:${back}:t`);
    const backConfig = JSON.parse((await skopeo('inspect', '--config', '--raw', `oci:${back}:t`)).stdout) as { rootfs: { diff_ids: string[] } };
    expect(backConfig.rootfs.diff_ids).toEqual([made.diffId]);

    const theirs = path.join(tmp, 'theirs.tar');
    await skopeo('copy', `oci:${made.layout}:t`, `docker-archive:${theirs}:${name}`);
    const [a, b] = [await ArchiveIndex.open(ours), await ArchiveIndex.open(theirs)];
    const names = (x: ArchiveIndex): string[] => [...x.members()].map((m) => m.name).sort();
    expect(names(a)).toEqual(names(b));
    for (const member of ['manifest.json', 'repositories']) {
      const [ma, mb] = [a.resolve(member), b.resolve(member)];
      expect((await a.readMember(ma!)).toString(), member).toBe((await b.readMember(mb!)).toString());
    }
    const viaSkopeo = path.join(tmp, 'back-theirs');
    await skopeo('copy', `docker-archive:${theirs}`, `oci:${viaSkopeo}:t`);
    const digestOfConfig = async (layout: string): Promise<string> =>
      (JSON.parse((await skopeo('inspect', '--raw', `oci:${layout}:t`)).stdout) as { config: { digest: string } }).config.digest;
    expect(await digestOfConfig(back)).toBe(await digestOfConfig(viaSkopeo));
    await a.close();
    await b.close();
  });

  it('is deterministic: the same image written twice gives the same bytes', async () => {
    const made = await handLayout(tmp);
    const [one, two] = [path.join(tmp, 'one.tar'), path.join(tmp, 'two.tar')];
    await copyLayout(made.layout, await openDockerArchiveDestination(one, { tmpDir: path.join(tmp, 's1') }), ['app:1']);
    await copyLayout(made.layout, await openDockerArchiveDestination(two, { tmpDir: path.join(tmp, 's2') }), ['app:1']);
    expect(sha256(await readFile(one))).toBe(sha256(await readFile(two)));
  });

  it('a failed copy leaves neither the archive nor staging files', async () => {
    const made = await handLayout(tmp);
    const file = path.join(tmp, 'never.tar');
    const scratch = path.join(tmp, 'scratch');
    const source = await openOciLayoutSource(made.layout, 't');
    const destination = await openDockerArchiveDestination(file, { tmpDir: scratch });
    const manifest = parseManifest((await source.root()).bytes, 'm');
    const layer = manifest.layers[0]!;
    const err = await failure(destination.putBlob({ ...layer, digest: made.config as never }, await source.openBlob(layer), 'layer 1'));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain('layer 1');
    await destination.close();
    await source.close();
    await expect(stat(file)).rejects.toThrow();
    expect(await readdir(scratch)).toEqual([]);
  });
});

describe('round trip through our own reader and writer', () => {
  it.skipIf(!hasShared)('docker-archive → docker-archive keeps config, diffIDs and names; several images in one file', async () => {
    const file = path.join(tmp, 'bundle.tar');
    const scratch = path.join(tmp, 'scratch');
    const destination = await openDockerArchiveDestination(file, { tmpDir: scratch });
    const sources = [
      await openDockerArchiveSource(dive('test-kaniko-image.tar')),
      await openDockerArchiveSource(ggcr('tarball/testdata/test_image_1.tar')),
    ];
    const records = [];
    for (const source of sources) {
      const { descriptor } = await source.root();
      // copyImage commits per image; drive the two copies into one commit like a multi-image save.
      const m = parseManifest((await source.root()).bytes, 'm');
      for (const layer of m.layers) await destination.putBlob(layer, await source.openBlob(layer), `layer ${layer.digest}`);
      await destination.putDocument(m.config, await source.readDocument(m.config));
      await destination.putDocument(descriptor, (await source.root()).bytes);
      records.push({ descriptor, names: [...source.image.names, ...(records.length === 1 ? ['bare'] : [])] });
    }
    await destination.commit(records);
    await destination.close();
    for (const source of sources) await source.close();
    expect(await readdir(scratch)).toEqual([]);

    const kaniko = await load(file, { ref: 'dive-test:kaniko-latest' });
    const original = await load(dive('test-kaniko-image.tar'));
    expect(kaniko.manifest.config.digest).toBe(original.manifest.config.digest);
    // Written uncompressed: each layer is now its own diffID.
    expect(kaniko.manifest.layers.map((l) => l.digest)).toEqual(original.diffIds);
    expect(kaniko.manifest.layers.every((l) => l.mediaType === MediaType.DockerLayer)).toBe(true);
    // A bare name is written NAME:latest (docker load refuses an untagged RepoTag).
    const written = await ArchiveIndex.open(file);
    const list = JSON.parse((await written.readMember(written.resolve('manifest.json')!)).toString()) as { RepoTags: string[] }[];
    expect(list.map((m) => m.RepoTags)).toEqual([['dive-test:kaniko-latest'], ['bazel/v1/tarball:test_image_1', 'bare:latest']]);
    await written.close();
    const bazel = await load(file, { ref: 'bazel/v1/tarball:test_image_1' });
    expect(bazel.manifest.config.digest).toBe('sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e');
  });

  it('a layer that does not uncompress to its diff_id fails the commit with digest-mismatch', async () => {
    const file = path.join(tmp, 'bad.tar');
    const scratch = path.join(tmp, 's');
    const destination = await openDockerArchiveDestination(file, { tmpDir: scratch });
    const layer = gzipSync(Buffer.alloc(1024));
    const layerDescriptor = { mediaType: MediaType.DockerLayerGzip, digest: digestOf(layer), size: layer.length };
    const { Readable } = await import('node:stream');
    await destination.putBlob(layerDescriptor, Readable.from([layer]), 'layer 1');
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
    const configDescriptor = { mediaType: MediaType.DockerConfig, digest: digestOf(config), size: config.length };
    await destination.putDocument(configDescriptor, config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: configDescriptor, layers: [layerDescriptor] }));
    const descriptor = { mediaType: MediaType.DockerManifest, digest: digestOf(manifest), size: manifest.length };
    await destination.putDocument(descriptor, manifest);
    const err = await failure(destination.commit([{ descriptor, names: ['a:1'] }]));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain(sha256(Buffer.alloc(1024)));
    await destination.close();
    await expect(stat(file)).rejects.toThrow();
    expect(await readdir(scratch)).toEqual([]);
  });

  it('refuses an index', async () => {
    const destination = await openDockerArchiveDestination(path.join(tmp, 'x.tar'), { tmpDir: path.join(tmp, 's') });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }));
    const descriptor = { mediaType: MediaType.OciIndex, digest: digestOf(index), size: index.length };
    await destination.putDocument(descriptor, index);
    expect((await failure(destination.commit([{ descriptor, names: [] }]))).code).toBe('unsupported');
    await destination.close();
  });
});

describe.skipIf(!hasShared)('OCI images into a docker archive', () => {
  it('zstd layers of an OCI archive are written uncompressed, as <diffID>.tar', async () => {
    const source = await openOciArchiveSource(dive('test-oci-zstd-image.tar'));
    const file = path.join(tmp, 'from-oci.tar');
    const destination = await openDockerArchiveDestination(file, { tmpDir: path.join(tmp, 'scratch') });
    await copyImage({ source, destination, names: ['minimal:zstd'] });
    await destination.close();
    await source.close();
    const image = await load(file);
    expect(image.names).toEqual(['minimal:zstd']);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(image.diffIds);
    const archive = await ArchiveIndex.open(file);
    expect(archive.entry(`${image.diffIds[0]!.slice(7)}.tar`)?.type).toBe('file');
    await archive.close();
  });
});

describe.skipIf(skipWithoutTools('podman', 'skopeo', 'tar', 'gzip'))('with the real podman', () => {
  it('podman loads our archive (image ID = config digest), and we read what podman save -m writes', async () => {
    const made = await handLayout(tmp);
    const ours = path.join(tmp, 'ours.tar');
    await copyLayout(made.layout, await openDockerArchiveDestination(ours, { tmpDir: path.join(tmp, 'scratch') }), ['localhost/cairn/one:1']);
    const env = { ...process.env, ...hermeticContainersEnv(path.join(tmp, 'containers')) };
    const podman = (...args: string[]) => run('podman', args, { env, maxBuffer: 64 << 20 });
    try {
      await podman('load', '-i', ours);
      const id = (await podman('image', 'inspect', '--format', '{{.Id}}', 'localhost/cairn/one:1')).stdout.trim();
      expect(`sha256:${id}`).toBe(made.config);
      await podman('tag', 'localhost/cairn/one:1', 'localhost/cairn/two:2');
      const saved = path.join(tmp, 'podman.tar');
      await podman('save', '-m', '--format', 'docker-archive', '-o', saved, 'localhost/cairn/one:1', 'localhost/cairn/two:2');
      for (const ref of ['localhost/cairn/one:1', 'localhost/cairn/two:2']) {
        const image = await load(saved, { ref });
        expect(image.manifest.config.digest).toBe(made.config);
        expect(image.diffIds).toEqual([made.diffId]);
      }
    } finally {
      await podman('rmi', '-a', '-f').catch(() => undefined);
    }
  });
});
