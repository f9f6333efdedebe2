// The applier on other projects' test data: moby's cumulative whiteout sequence, container-diff's
// layer tars with their expected trees, moby's legacy layers (2013 scratch, absolute symlinks,
// xattr PAX, duplicate paths), and go-containerregistry's whiteout/overwrite images (docker-save
// tarballs, loaded into a store and unpacked).
import { createReadStream, readFileSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/layer/apply.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { getXattr } from '../../src/sys/xattr.js';
import { listTar } from '../../src/tar/index.js';
import { loadArchive } from '../../src/transport/load.js';
import { dir, file, hostileTar } from '../support/hostile-tar.js';
import { removeDir, tempDir } from '../support/images.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { listTree, treeManifest } from './tree-manifest.js';

let base: string;
let root: string;

beforeEach(async () => {
  base = await tempDir('cairn-apply-conf-');
  root = path.join(base, 'root');
  await mkdir(root);
});

afterEach(async () => {
  await removeDir(base);
});

const applyFile = (tar: string, target = root): Promise<unknown> => applyLayer(target, createReadStream(tar), { what: path.basename(tar) });

interface SequenceLayer {
  layer: string[];
  expected: string[];
}

describe.skipIf(!hasShared)('moby whiteout sequence (whiteout-sequence.json)', () => {
  const layers = hasShared
    ? (JSON.parse(readFileSync(conformancePath('moby-go-archive/whiteout-sequence.json'), 'utf8')) as { layers: SequenceLayer[] }).layers
    : [];

  it('applies the four layers cumulatively onto one directory', async () => {
    expect(layers).toHaveLength(4);
    for (const [i, { layer, expected }] of layers.entries()) {
      const entries = layer.map((name) => (name.endsWith('/') ? dir(name, 0o700) : file(name, '', 0o600)));
      await applyLayer(root, Readable.from([hostileTar(entries)]), { what: `layer ${i + 1}` });
      expect(await listTree(root), `after layer ${i + 1}`).toEqual(expected);
    }
  });

  it('the same layers with every opaque marker moved first or last give the same trees', async () => {
    for (const placement of ['first', 'last'] as const) {
      const target = path.join(base, placement);
      await mkdir(target);
      for (const [i, { layer, expected }] of layers.entries()) {
        const markers = layer.filter((n) => n.endsWith('.wh..wh..opq'));
        const rest = layer.filter((n) => !n.endsWith('.wh..wh..opq'));
        const ordered = placement === 'first' ? [...markers, ...rest] : [...rest, ...markers];
        const entries = ordered.map((name) => (name.endsWith('/') ? dir(name, 0o700) : file(name, '', 0o600)));
        await applyLayer(target, Readable.from([hostileTar(entries)]), { what: `layer ${i + 1}` });
        expect(await listTree(target), `${placement}, after layer ${i + 1}`).toEqual(expected);
      }
    }
  });
});

/**
 * Paths and contents of a tree, for comparing with container-diff's `-actual` dirs. A nested
 * `.tar` file is compared by its member names: upstream re-created la-croix3's nested tar for
 * the expected tree (its PAX atime differs), so its bytes cannot match.
 */
async function contents(top: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rec of await treeManifest(top)) {
    if (rec.path === '.') continue;
    const abs = path.join(top, rec.path);
    if (rec.type !== 'file') out[rec.path] = rec.type;
    else if (rec.path.endsWith('.tar')) out[rec.path] = (await listTar(createReadStream(abs), { what: abs })).map((e) => e.path).join(',');
    else out[rec.path] = (await readFile(abs)).toString('base64');
  }
  return out;
}

describe.skipIf(!hasShared)('container-diff layer tars (NOTES.md)', () => {
  const td = (...p: string[]): string => conformancePath('container-diff/util/testTars', ...p);

  it.each(['la-croix1', 'la-croix2', 'la-croix3'])('%s.tar onto an empty root equals its -actual/ tree', async (name) => {
    await applyFile(td(`${name}.tar`));
    expect(await contents(root)).toEqual(await contents(td(`${name}-actual`)));
  });

  it.each(['la-croix-update', 'la-croix-dir-update', 'la-croix-wh'])('%s.tar onto la-croix-starter/ equals its -actual/ tree', async (name) => {
    await cp(td('la-croix-starter'), root, { recursive: true });
    await applyFile(td(`${name}.tar`));
    expect(await contents(root)).toEqual(await contents(td(`${name}-actual`)));
  });
});

describe.skipIf(!hasShared)('moby legacy layers (tarsum testdata)', () => {
  const tarsum = (...p: string[]): string => conformancePath('moby/daemon/builder/remotecontext/internal/tarsum/testdata', ...p);

  it('the 2013 scratch layer (only ./) applies to nothing but the root', async () => {
    await applyFile(tarsum('511136ea3c5a64f264b78b5433614aec563103b4d4702f3ba7d4d2698e22c158/layer.tar'));
    expect(await listTree(root)).toEqual([]);
    expect((await lstat(root)).isDirectory()).toBe(true);
  });

  it('the 2014 busybox-ish layer keeps its absolute symlinks verbatim, inside the root', async () => {
    await applyFile(tarsum('46af0962ab5afeb5ce6740d4d91652e69206fc991fd5328c1a94d364ad00e457/layer.tar'));
    const list = await listTree(root);
    expect(list).toContain('dev/');
    expect(await readlink(path.join(root, 'dev/stdout'))).toBe('/proc/self/fd/1');
    expect(await readlink(path.join(root, 'dev/core'))).toBe('/proc/kcore');
  });

  it.skipIf(process.getuid?.() !== 0)('the xattr layer sets security.capability (as root)', async () => {
    await applyFile(tarsum('xattr/layer.tar'));
    const [name] = await listTree(root);
    const cap = getXattr(path.join(root, name as string), 'security.capability');
    expect(cap?.length).toBeGreaterThan(0);
  });

  it.each([
    [0, 2],
    [1, 3],
  ])('duplicate paths, the last wins: collision-%i applies like collision-%i', async (dup, single) => {
    const other = path.join(base, 'other');
    await mkdir(other);
    await applyFile(tarsum(`collision/collision-${dup}.tar`));
    await applyFile(tarsum(`collision/collision-${single}.tar`), other);
    expect(await contents(root)).toEqual(await contents(other));
  });
});

describe.skipIf(!hasShared)('go-containerregistry whiteout / overwrite images (mutate/testdata)', () => {
  const mutate = (...p: string[]): string => conformancePath('go-containerregistry/pkg/v1/mutate/testdata', ...p);

  async function unpacked(archive: string): Promise<string> {
    const store = await Store.open(path.join(base, 'store'));
    const [image] = await loadArchive(store, mutate(archive));
    const target = path.join(base, 'rootfs');
    await unpack(store, (image?.descriptor.digest as string) ?? 'missing', target);
    return target;
  }

  it('whiteout_image.tar: foo.txt deleted by a later layer, no whiteout file left', async () => {
    const tree = await listTree(await unpacked('whiteout_image.tar'));
    expect(tree).toEqual(['bar.txt']);
  });

  it('whiteout_dir.tar: directory whiteout then re-create', async () => {
    const tree = await listTree(await unpacked('whiteout_dir.tar'));
    expect(tree).toEqual(['a/', 'a/baz', 'b/', 'b/bar']);
  });

  it('overwritten_file.tar: an upper symlink replaces a lower file', async () => {
    const target = await unpacked('overwritten_file.tar');
    expect(await readlink(path.join(target, 'foo.txt'))).toBe('bar.txt');
    expect(await readFile(path.join(target, 'bar.txt'), 'utf8')).toBe('bar\n');
  });
});
