// Layer indexes in the store: built once (one pass per layer, diffID checked) and then read from
// their files; records saved in meta; shared between blobs of the same content; rebuilt by
// `fsck --rebuild`; a seekable cache written in the same pass when asked.
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { getLayerIndex, imageLayers, indexImage, layerTables, rebuildMetaWithIndexes, type LayerRef } from '../../src/layer/index-store.js';
import { decodeLayerIndex } from '../../src/layer/index-table.js';
import { hasSeekableCache, SEEKABLE_MIN_SIZE } from '../../src/layer/random-access.js';
import { rebuildMeta } from '../../src/store/rebuild.js';
import { dir, file, makeImage, symlink, tempStore, type TempStore } from '../union/layers.js';

let t: TempStore;
beforeEach(async () => {
  t = await tempStore('cairn-index-store-');
});
afterEach(async () => {
  await t.remove();
});

const base = [dir('etc'), file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'), dir('usr/bin'), file('usr/bin/sh', 'ELF'), symlink('bin', 'usr/bin')];
const top = [dir('etc'), file('etc/motd', 'hello\n'), file('etc/.wh.passwd')];

function storedIndexes(): string[] {
  return t.store.layerIndexes.list();
}

describe('layer indexes in the store', () => {
  it('builds each layer once, then reads indexes (from their files) and records (from meta)', async () => {
    const image = await makeImage(t.store, 'test:1', [base, top]);
    const built: LayerRef[] = [];
    const first = await indexImage(t.store, image, { onBuild: (l) => built.push(l) });
    expect(built.length).toBe(2);
    expect(first.map((l) => l.index.entries.map((e) => e.path))).toEqual([
      ['etc', 'etc/passwd', 'usr/bin', 'usr/bin/sh', 'bin'],
      ['etc', 'etc/motd', 'etc/.wh.passwd'],
    ]);
    const refs = await imageLayers(t.store, image);
    expect(first.map((l) => l.diffId)).toEqual(refs.map((r) => r.diffId));
    expect(first[0]?.index.entries[1]?.sha256).toBe(`sha256:${createHash('sha256').update('root:x:0:0::/root:/bin/sh\n').digest('hex')}`);

    const again = await indexImage(t.store, image, { onBuild: (l) => built.push(l) });
    expect(built.length).toBe(2);
    expect(again.map((l) => l.index)).toEqual(first.map((l) => l.index));
    expect(again.map((l) => l.record)).toEqual(first.map((l) => l.record));
    expect(again[0]?.record).toMatchObject({ compression: 'gzip', diffId: refs[0]?.diffId });

    const stored = t.store.layerIndexes.get(refs[1]?.diffId as Digest);
    expect(decodeLayerIndex(stored as Uint8Array)).toEqual(first[1]?.index);
    await t.store.withMeta(async (meta) => {
      expect(await meta.layers.get(image.manifest.layers[1]?.digest as string)).toEqual(first[1]?.record);
    });
    // Tables alone (what an image diff reads): no build, the same entries.
    const tables = await layerTables(t.store, refs);
    expect(built.length).toBe(2);
    expect(tables.map((table) => table.toIndex())).toEqual(first.map((l) => l.index));

    const layer = image.manifest.layers[0];
    if (!layer || !refs[0]) throw new Error('no layer');
    expect(await getLayerIndex(t.store, layer, refs[0].diffId)).toEqual(first[0]?.index);
  });

  it('refuses a config whose diffID lies, and saves nothing', async () => {
    const image = await makeImage(t.store, 'liar:1', [base], { diffIds: () => [`sha256:${'e'.repeat(64)}` as Digest] });
    const err = await indexImage(t.store, image).catch((e: unknown) => e);
    expect(isCairnError(err, 'digest-mismatch')).toBe(true);
    expect((err as Error).message).toContain(image.manifest.layers[0]?.digest);
    expect(storedIndexes()).toEqual([]);
  });

  it('reads a damaged index file as missing and builds it again', async () => {
    const image = await makeImage(t.store, 'test:1', [base]);
    const [ref] = await imageLayers(t.store, image);
    if (!ref) throw new Error('no layer');
    await t.store.layerIndexes.put(ref.diffId, new Uint8Array([0x43, 0x4c, 0x58, 0x01, 7]));
    const built: LayerRef[] = [];
    const [table] = await layerTables(t.store, [ref]);
    const [layer] = await indexImage(t.store, image, { onBuild: (l) => built.push(l) });
    expect(built).toEqual([]);
    expect(table?.toIndex()).toEqual(layer?.index);
    expect(table?.toIndex().entries.map((e) => e.path)).toEqual(['etc', 'etc/passwd', 'usr/bin', 'usr/bin/sh', 'bin']);
  });

  it('shares one index between blobs of the same content (gzip and zstd)', async () => {
    const gz = await makeImage(t.store, 'same:gz', [base], { compression: 'gzip' });
    const zst = await makeImage(t.store, 'same:zst', [base], { compression: 'zstd' });
    const builds: LayerRef[] = [];
    await indexImage(t.store, gz, { onBuild: (l) => builds.push(l) });
    const [layer] = await indexImage(t.store, zst, { onBuild: (l) => builds.push(l) });
    expect(builds.length).toBe(1);
    expect(layer?.record.compression).toBe('zstd');
    expect(layer?.blob.digest).toBe(zst.manifest.layers[0]?.digest);
  });

  it('fsck --rebuild clears indexes and, with the indexing scanner, writes them back', async () => {
    const image = await makeImage(t.store, 'test:1', [base, top]);
    await indexImage(t.store, image);
    expect(storedIndexes().length).toBe(2);
    const plain = await rebuildMeta(t.store);
    expect(plain).toMatchObject({ layers: 2, indexes: 0, problems: [] });
    expect(storedIndexes()).toEqual([]);
    const rebuilt = await rebuildMetaWithIndexes(t.store);
    expect(rebuilt).toMatchObject({ layers: 2, indexes: 2, problems: [] });
    const builds: LayerRef[] = [];
    await indexImage(t.store, image, { onBuild: (l) => builds.push(l) });
    expect(builds).toEqual([]);
  });

  it('with `seekable`, writes the content cache of a large compressed layer in the same pass', async () => {
    const big = Buffer.alloc(SEEKABLE_MIN_SIZE + 100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 27;
    const image = await makeImage(t.store, 'big:1', [[file('big', big)], [file('small', 'x')]], { level: 1 });
    let decompressed = 0;
    const layers = await indexImage(t.store, image, { seekable: true, onDecompress: (n) => (decompressed += n) });
    expect(decompressed).toBe(layers.reduce((sum, l) => sum + l.record.size, 0));
    expect(await hasSeekableCache(t.store, layers[0]?.diffId as Digest)).toBe(true);
    // The small layer needs none.
    expect(await hasSeekableCache(t.store, layers[1]?.diffId as Digest)).toBe(false);
  });
});
