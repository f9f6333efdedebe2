// writeLayer: a small tar is hashed and compressed in memory, a big one streamed; either way the
// blob and diffID are those of the streaming encoder (encodeLayer) and of the tools
// (`gzip -dc blob | sha256sum`), so which path wrote a layer never shows in its digest.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeLayer } from '../../src/image/draft.js';
import type { Store } from '../../src/store/store.js';
import { encodeLayer, packTar, tarBytes, type Compression, type TarEntryInit } from '../../src/tar/index.js';
import { dirEntries, listBlobs, removeDir, seededStream, tempStore } from '../support/images.js';

const run = promisify(execFile);

let dir: string;
let store: Store;

beforeEach(async () => ({ dir, store } = await tempStore('cairn-write-layer-', { prepare: true })));
afterEach(() => removeDir(dir));

/** A layer of one directory and one file of `size` bytes (not all alike, so gzip has work). */
async function items(size: number): Promise<{ entry: TarEntryInit; body?: Uint8Array }[]> {
  return [
    { entry: { path: 'etc', type: 'directory', mtime: 1_700_000_000_000 } },
    { entry: { path: 'etc/data', type: 'file', mtime: 1_700_000_000_000 }, body: await buffer(seededStream(size, size)) },
  ];
}

const SIZES = { 'a few bytes (in memory)': 3, 'well past the in-memory limit (streamed)': 700_000 };

describe('writeLayer', () => {
  for (const [label, size] of Object.entries(SIZES)) {
    for (const compression of ['gzip', 'none'] as Compression[]) {
      it(`${compression}, ${label}: the digests of the streaming encoder and of sha256sum`, async () => {
        const expected = encodeLayer(packTar(await items(size)), compression);
        await buffer(expected.stream);
        const { digest, diffId, compressedSize } = await expected.result();

        const layer = await writeLayer(store, packTar(await items(size)), { compression });
        expect(layer.descriptor.digest).toBe(digest);
        expect(layer.descriptor.size).toBe(compressedSize);
        expect(layer.diffId).toBe(diffId);
        const blob = store.blobs.path(digest);
        const decode = compression === 'gzip' ? 'gzip -dc' : 'cat';
        expect(`sha256:${(await run('sh', ['-c', `sha256sum < ${blob}`])).stdout.split(' ')[0]}`).toBe(digest);
        expect(`sha256:${(await run('sh', ['-c', `${decode} < ${blob} | sha256sum`])).stdout.split(' ')[0]}`).toBe(diffId);
        expect(await dirEntries(store.paths.tmp)).toEqual([]);
      });
    }
  }

  for (const compression of ['gzip', 'none', 'zstd'] as Compression[]) {
    it(`${compression}, a tar given as bytes: the digests of the streaming encoder`, async () => {
      const expected = encodeLayer(packTar(await items(1000)), compression);
      await buffer(expected.stream);
      const { digest, diffId } = await expected.result();
      const layer = await writeLayer(store, tarBytes(await items(1000)), { compression });
      expect([layer.descriptor.digest, layer.diffId]).toEqual([digest, diffId]);
      expect(await store.blobs.has(digest)).toBe(true);
    });
  }

  it('a tar source that fails leaves no blob and nothing staged', async () => {
    const failing = packTar(
      (async function* () {
        yield { entry: { path: 'a', type: 'file' as const, size: 4 }, body: Buffer.from('abcd') };
        throw new Error('walk failed');
      })(),
    );
    await expect(writeLayer(store, failing)).rejects.toThrow('walk failed');
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
    expect(await listBlobs(store)).toEqual([]);
  });
});
