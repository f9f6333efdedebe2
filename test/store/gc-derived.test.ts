/**
 * gc's sweep of derived data: layer indexes and seekable layer caches (by diffID) and unpacked
 * layer dirs (by chainID) survive while an image names them and go once none does.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestHex, nodeSha256 } from '../../src/digest/index.js';
import { chainIds } from '../../src/oci/index.js';
import { gc } from '../../src/store/gc.js';
import type { Store } from '../../src/store/store.js';
import { makeImage, removeDir, tempStore } from '../support/images.js';

describe('gc of derived data', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => ({ dir, store } = await tempStore(undefined, { subdir: 'store' })));
  afterEach(() => removeDir(dir));

  it('keeps indexes, caches and layer dirs of tagged images and removes the rest', async () => {
    const kept = await makeImage(store, { layers: [{ 'a.txt': 'a' }, { 'b.txt': 'b' }], tag: 'kept:1' });
    const gone = await makeImage(store, { layers: [{ 'c.txt': 'c' }], tag: 'gone:1' });
    const seekable = path.join(store.paths.cache, 'seekable');
    await mkdir(seekable, { recursive: true });
    const cacheOf = (diffId: string) => path.join(seekable, `${digestHex(diffId as never)}.tar.zst`);
    for (const id of [...kept.diffIds, ...gone.diffIds]) await writeFile(cacheOf(id), 'cache');
    for (const id of [...kept.diffIds, ...gone.diffIds]) await store.layerIndexes.put(id, new Uint8Array([1, 2, 3]));
    const keptChains = chainIds(kept.diffIds, nodeSha256).map(digestHex);
    const goneChains = chainIds(gone.diffIds, nodeSha256).map(digestHex);
    for (const id of [...keptChains, ...goneChains]) await mkdir(path.join(store.paths.layers, id, 'usr'), { recursive: true });

    expect((await gc(store, { dryRun: true })).derivedRemoved).toEqual([]);
    await store.removeTag('gone:1');
    const dry = await gc(store, { dryRun: true });
    expect(dry.derivedRemoved.sort()).toEqual([
      ...goneChains.map((c) => `layers/${c}`),
      ...gone.diffIds.map((d) => `cache/seekable/${digestHex(d)}.tar.zst`),
      ...gone.diffIds.map((d) => `indexes/sha256/${digestHex(d)}`),
    ].sort());
    expect((await readdir(seekable)).length).toBe(3);

    const swept = await gc(store);
    expect(swept.derivedRemoved).toHaveLength(dry.derivedRemoved.length);
    expect((await readdir(seekable)).sort()).toEqual(kept.diffIds.map((d) => `${digestHex(d)}.tar.zst`).sort());
    expect((await readdir(store.paths.layers)).sort()).toEqual([...keptChains].sort());
    expect(store.layerIndexes.list().sort()).toEqual([...kept.diffIds].sort());
  });
});
