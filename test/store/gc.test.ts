// gc: mark from index.json (tagged and dangling entries) and meta gcRoots, sweep the rest;
// dry run; orphans in cairn/tmp; and never sweeping what an unfinished ingest wrote.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import { fsck } from '../../src/store/fsck.js';
import { gc } from '../../src/store/gc.js';
import { Store } from '../../src/store/store.js';
import { dirEntries, listBlobs, makeImage, removeDir, seededStream, tempStore } from '../support/images.js';

let dir: string;
let store: Store;

beforeEach(async () => ({ dir, store } = await tempStore('cairn-gc-')));
afterEach(() => removeDir(dir));

async function sizes(digests: readonly Digest[]): Promise<number> {
  let total = 0;
  for (const d of digests) total += (await store.blobs.stat(d)) ?? 0;
  return total;
}

const sorted = (digests: Iterable<Digest>): Digest[] => [...new Set(digests)].sort();

describe('gc', () => {
  it('keeps tagged and dangling images, sweeps unreferenced blobs, counts them and their bytes; dry run removes nothing', async () => {
    const tagged = await makeImage(store, { layers: [{ 'base/a': 'a\n' }, { 'app/b': 'b\n' }], tag: 'keep:1' });
    const dangling = await makeImage(store, { files: { 'c.txt': 'dangling\n' }, tag: null });
    const unreferenced = await makeImage(store, { files: { 'd.txt': 'nobody tags me\n' } });
    const loose = await store.ingest(() => store.blobs.put(Buffer.from('a loose blob')));
    const garbage = sorted([...unreferenced.blobs, loose.digest]);
    const live = sorted([...tagged.blobs, ...dangling.blobs]);
    const freed = await sizes(garbage);
    await mkdir(store.paths.tmp, { recursive: true });
    await writeFile(path.join(store.paths.tmp, 'ingest-0123456789abcdef'), 'half a blob');

    const dry = await gc(store, { dryRun: true });
    expect(sorted(dry.removed)).toEqual(garbage);
    expect(dry.freedBytes).toBe(freed);
    expect(dry.kept).toBe(live.length);
    expect(dry.tmpRemoved).toBe(0);
    expect(sorted(await listBlobs(store))).toEqual(sorted([...live, ...garbage]));
    expect(await dirEntries(store.paths.tmp)).toEqual(['ingest-0123456789abcdef']);

    const result = await gc(store);
    expect(sorted(result.removed)).toEqual(garbage);
    expect(result.freedBytes).toBe(freed);
    expect(result.kept).toBe(live.length);
    expect(result.tmpRemoved).toBe(1);
    expect(sorted(await listBlobs(store))).toEqual(live);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
    expect((await fsck(store)).problems).toEqual([]);
    expect((await store.getTag('keep:1'))?.digest).toBe(tagged.descriptor.digest);

    const again = await gc(store);
    expect(again).toEqual({ removed: [], freedBytes: 0, kept: live.length, tmpRemoved: 0, derivedRemoved: [] });
  });

  it('after rmi, sweeps the image but keeps a layer another image still uses', async () => {
    const shared = { 'shared/lib': 'shared layer\n' };
    const a = await makeImage(store, { layers: [shared, { 'a/x': 'only in a\n' }], tag: 'a:1' });
    const b = await makeImage(store, { layers: [shared, { 'b/y': 'only in b\n' }], tag: 'b:1' });
    expect(a.layers[0]).toBe(b.layers[0]);
    expect(await store.removeTag('a:1')).toMatchObject({ digest: a.descriptor.digest });

    const result = await gc(store);
    expect(sorted(result.removed)).toEqual(sorted([a.descriptor.digest, a.config, a.layers[1]!]));
    expect(sorted(await listBlobs(store))).toEqual(sorted(b.blobs));
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('removes orphans in cairn/tmp (files and directories a killed process left)', async () => {
    await makeImage(store, { files: { f: 'x' }, tag: 't:1' });
    await writeFile(path.join(store.paths.tmp, 'ingest-aaaaaaaaaaaaaaaa'), 'x'.repeat(1000));
    await mkdir(path.join(store.paths.tmp, 'archive-staging', 'nested'), { recursive: true });
    await writeFile(path.join(store.paths.tmp, 'archive-staging', 'nested', 'f'), 'y');
    // A writer killed while replacing index.json leaves its temp file beside it.
    await writeFile(path.join(dir, '.index.json.0123456789ab.tmp'), '{"schemaVersion":2,"manif');
    await writeFile(path.join(dir, '.oci-layout.ba9876543210.tmp'), '{"imageLayout');
    await writeFile(path.join(dir, 'README.mine'), 'not ours to remove');
    expect((await gc(store, { dryRun: true })).tmpRemoved).toBe(0);
    const result = await gc(store);
    expect(result.tmpRemoved).toBe(4);
    expect(result.removed).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
    expect((await dirEntries(dir)).sort()).toEqual(['README.mine', 'blobs', 'cairn', 'index.json', 'oci-layout']);
  });

  it('waits for an ingest in flight and does not sweep the blobs it wrote before tagging them', async () => {
    let written!: () => void;
    const wroteBlobs = new Promise<void>((resolve) => (written = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ingest = store.ingest(async () => {
      const image = await makeImage(store, { files: { 'new.txt': 'not tagged yet\n' }, ingest: false });
      written();
      await held;
      await store.setTag('late:1', image.descriptor);
      return image;
    });
    await wroteBlobs;

    let gcDone = false;
    const collecting = gc(store).then((result) => {
      gcDone = true;
      return result;
    });
    await sleep(400);
    expect(gcDone).toBe(false);

    release();
    const image = await ingest;
    const result = await collecting;
    expect(result.removed).toEqual([]);
    for (const digest of image.blobs) expect(await store.blobs.has(digest)).toBe(true);
    expect((await store.getTag('late:1'))?.digest).toBe(image.descriptor.digest);
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('an ingest racing a gc loses nothing, whichever takes the lock first', async () => {
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) await store.ingest(() => store.blobs.put(Buffer.from(`garbage ${round} ${i}`)));
      const collecting = gc(store);
      await sleep(round * 2);
      const ingest = store.ingest(() => makeImage(store, { files: { f: `fresh ${round}` }, tag: `fresh:${round}`, ingest: false }));
      const [result, image] = await Promise.all([collecting, ingest]);
      expect(result.removed.filter((d) => image.blobs.includes(d))).toEqual([]);
      for (const digest of image.blobs) expect(await store.blobs.has(digest)).toBe(true);
    }
    expect((await store.listTags()).map((t) => t.tag).sort()).toEqual(['0', '1', '2', '3', '4']);
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('keeps what a container record pins through gcRoots, and sweeps it once the record is gone', async () => {
    const image = await makeImage(store, { layers: [{ 'l1/f': '1' }, { 'l2/f': '2' }] });
    const record = path.join(store.paths.containers, 'c0ffee', 'container.json');
    await mkdir(path.dirname(record), { recursive: true });
    await writeFile(record, JSON.stringify({ image: 'x', gcRoots: [image.descriptor.digest, 'not-a-digest'] }));
    const extra = await makeImage(store, { files: { 'other/f': 'unpinned' } });

    const result = await gc(store);
    expect(sorted(result.removed)).toEqual(sorted(extra.blobs));
    for (const digest of image.blobs) expect(await store.blobs.has(digest)).toBe(true);

    await store.withMeta((meta) => meta.buildCache.put('step', { gcRoots: [image.layers[0]] }));
    await rm(path.dirname(record), { recursive: true });
    const second = await gc(store);
    expect(sorted(second.removed)).toEqual(sorted([image.descriptor.digest, image.config, image.layers[1]!]));
    expect(await store.blobs.has(image.layers[0]!)).toBe(true);
  });

  it('a gcRoot may pin a big non-document blob directly: kept, not read as a document', async () => {
    const size = (64 << 20) + 1;
    const big = await store.ingest(() => store.blobs.put(seededStream(5, size), { size }));
    await store.withMeta((meta) => meta.buildCache.put('big', { gcRoots: [big.digest] }));
    const result = await gc(store);
    expect(result.removed).toEqual([]);
    expect(await store.blobs.has(big.digest)).toBe(true);
  });

  it('runs on a store that does not exist yet (nothing to do)', async () => {
    const empty = await Store.open(path.join(dir, 'new-store'));
    expect(await gc(empty, { dryRun: true })).toEqual({ removed: [], freedBytes: 0, kept: 0, tmpRemoved: 0, derivedRemoved: [] });
  });
});
