// Random access to layer contents: reading one small file from a large gzip layer many times
// must not decompress the whole layer each time. Decompression work is counted through the
// `onDecompress` hook (bytes out of a decoder), never timed.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { indexImage, type IndexedLayer } from '../../src/layer/index-store.js';
import { LayerContent, SEEKABLE_CHUNK, SEEKABLE_MIN_SIZE, seekableCachePath, SeekableWriter } from '../../src/layer/random-access.js';
import { UnionView } from '../../src/union/view.js';
import { dir, file, makeImage, tempStore, type Item, type TempStore } from '../union/layers.js';

const run = promisify(execFile);
const hasZstd = await run('zstd', ['--version']).then(() => true, () => false);

/** ~1 MiB of text that differs per file (compresses like real text, quickly at level 1). */
function textFile(n: number): Buffer {
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < 1 << 20; i++) {
    const line = `file ${n} line ${i} ${((i * 2654435761) >>> 0).toString(36)}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join(''));
}

const SMALL = 'the small file near the end\n';
let t: TempStore;
let big: IndexedLayer;
let plain: IndexedLayer;
let tiny: IndexedLayer;
let smallEntry: { offset: number; size: number };

beforeAll(async () => {
  t = await tempStore('cairn-random-access-');
  const items: Item[] = [dir('data')];
  for (let n = 0; n < 50; n++) items.push(file(`data/f${String(n).padStart(2, '0')}`, textFile(n)));
  items.push(file('data/zz-small', SMALL));
  const image = await makeImage(t.store, 'big:gz', [items], { level: 1 });
  big = (await indexImage(t.store, image))[0] as IndexedLayer;
  const flat = await makeImage(t.store, 'big:none', [items.slice(0, 5).concat(file('data/zz-small', SMALL))], { compression: 'none' });
  plain = (await indexImage(t.store, flat))[0] as IndexedLayer;
  const small = await makeImage(t.store, 'small:gz', [[file('a', 'first'), file('b', Buffer.alloc(2 << 20, 1)), file('c', 'last')]]);
  tiny = (await indexImage(t.store, small))[0] as IndexedLayer;
  const entry = big.index.entries.find((e) => e.path === 'data/zz-small');
  if (!entry) throw new Error('setup');
  smallEntry = entry;
  expect(big.record.size).toBeGreaterThan(50 << 20);
  expect(big.record.compression).toBe('gzip');
}, 120_000);
afterAll(async () => {
  await t.remove();
});

describe('reading a small file from a ~50 MB gzip layer', () => {
  it('100 reads decompress about one layer in total, not 100 layers', async () => {
    let counted = 0;
    const content = new LayerContent(t.store, big.blob, { onDecompress: (n) => (counted += n) });
    for (let i = 0; i < 100; i++) {
      expect((await content.read(smallEntry.offset, smallEntry.size)).toString()).toBe(SMALL);
    }
    console.log(`100 reads of a ${SMALL.length}-byte file from a ${big.record.size}-byte gzip layer: ${counted} bytes decompressed (100 full passes: ${100 * big.record.size})`);
    // The first read writes the seekable cache (one full pass); the rest hit one cached frame.
    expect(counted).toBeLessThanOrEqual(big.record.size + SEEKABLE_CHUNK);
    expect(counted).toBeLessThan((100 * big.record.size) / 50);
  });

  it('another reader (another process) uses the cache: each read costs at most the frames it spans', async () => {
    let counted = 0;
    const content = new LayerContent(t.store, big.blob, { onDecompress: (n) => (counted += n), keepFrames: 0 });
    for (let i = 0; i < 100; i++) await content.read(smallEntry.offset, smallEntry.size);
    console.log(`cache present, no frame kept: 100 reads decompressed ${counted} bytes`);
    expect(counted).toBeLessThanOrEqual(100 * 2 * SEEKABLE_CHUNK);
    expect(counted).toBeLessThan(big.record.size * 5); // vs 100 full decompressions
  });

  it('without the cache, every read decompresses up to the file (the cost the cache removes)', async () => {
    let counted = 0;
    const content = new LayerContent(t.store, { ...big.blob, diffId: `sha256:${'f'.repeat(64)}` as typeof big.blob.diffId }, {
      onDecompress: (n) => (counted += n),
      writeCache: false,
    });
    for (let i = 0; i < 3; i++) expect((await content.read(smallEntry.offset, smallEntry.size)).toString()).toBe(SMALL);
    expect(counted).toBeGreaterThanOrEqual(3 * smallEntry.offset);
  });

  it('reads any range exactly, across frame boundaries, as bytes and as a stream', async () => {
    const content = new LayerContent(t.store, big.blob);
    const f03 = big.index.entries.find((e) => e.path === 'data/f03');
    if (!f03) throw new Error('no f03');
    const bytes = await content.read(f03.offset, f03.size);
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(f03.sha256);
    const streamed: Buffer[] = [];
    for await (const chunk of content.stream(f03.offset - 700, f03.size + 1400)) streamed.push(chunk as Buffer);
    expect(Buffer.concat(streamed).subarray(700, 700 + f03.size).equals(bytes)).toBe(true);
    const edge = await content.read(SEEKABLE_CHUNK * 3 - 5, 10);
    expect(edge.length).toBe(10);
    expect(isCairnError(await content.read(big.record.size - 1, 2).catch((e: unknown) => e), 'invalid-argument')).toBe(true);
  });

  it.skipIf(!hasZstd)('the cache is a zstd seekable-format file: `zstd -dc` gives the layer tar (its diffID)', async () => {
    const { stdout } = await run('sh', ['-c', `zstd -dc '${seekableCachePath(t.store, big.diffId)}' | sha256sum`]);
    expect(`sha256:${stdout.split(' ')[0]}`).toBe(big.diffId);
  });
});

describe('other layers', () => {
  it('a plain tar blob is read in place: nothing is decompressed', async () => {
    let counted = 0;
    const content = new LayerContent(t.store, plain.blob, { onDecompress: (n) => (counted += n) });
    const e = plain.index.entries.find((x) => x.path === 'data/zz-small');
    expect((await content.read(e?.offset ?? 0, e?.size ?? 0)).toString()).toBe(SMALL);
    expect(counted).toBe(0);
  });

  it(`a compressed layer under ${SEEKABLE_MIN_SIZE >> 20} MiB gets no cache: a read stops where the file ends`, async () => {
    let counted = 0;
    const content = new LayerContent(t.store, tiny.blob, { onDecompress: (n) => (counted += n) });
    const a = tiny.index.entries[0];
    expect((await content.read(a?.offset ?? 0, a?.size ?? 0)).toString()).toBe('first');
    expect(counted).toBeLessThan(tiny.record.size / 2);
    expect(await content.ensureSeekable()).toBe(false);
  });
});

describe('through a union view', () => {
  it('readFile 100 times costs a few frames once the cache exists, and a damaged cache is caught', async () => {
    let counted = 0;
    const view = await UnionView.open(t.store, [{ descriptor: big.descriptor, diffId: big.diffId }], { onDecompress: (n) => (counted += n) });
    for (let i = 0; i < 100; i++) expect((await view.readFile('/data/zz-small')).toString()).toBe(SMALL);
    expect(counted).toBeLessThanOrEqual(2 * SEEKABLE_CHUNK);

    // Replace the cache with one of the same size but other bytes: reads must fail, not lie.
    const cache = seekableCachePath(t.store, big.diffId);
    const saved = await readFile(cache);
    try {
      const writer = await SeekableWriter.create(t.store, big.diffId);
      const junk = Buffer.alloc(1 << 20, 0x41);
      for (let left = big.record.size; left > 0; left -= junk.length) await writer.write(junk.subarray(0, Math.min(left, junk.length)));
      await writer.commit();
      const fresh = await UnionView.open(t.store, [{ descriptor: big.descriptor, diffId: big.diffId }]);
      const err = await fresh.readFile('/data/zz-small').catch((e: unknown) => e);
      expect(isCairnError(err, 'digest-mismatch')).toBe(true);
      const stream = await fresh.createReadStream('/data/f01');
      const streamErr = await (async () => {
        for await (const _ of stream) void _;
      })().catch((e: unknown) => e);
      expect(isCairnError(streamErr, 'digest-mismatch')).toBe(true);
    } finally {
      await writeFile(cache, saved);
    }
  });
});
