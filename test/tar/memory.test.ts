// Memory must not grow with layer size: a 300 MB tar generated on the fly (never on disk, never
// whole in memory) is written, gzip-compressed, then digested and indexed in one pass, while the
// process RSS is sampled. Also logs the throughput of that pass.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { encodeLayer, listTar, packTar, scanLayer, type TarEntryInit } from '../../src/tar/index.js';

const MB = 1024 * 1024;
const FILES = 30;
const FILE_SIZE = 10 * MB;
const CHUNK = 64 * 1024;

/** Compressible but not trivial content (about 3:1 with gzip -1), a fresh buffer per chunk. */
function content(seed: number): Readable {
  const template = Buffer.alloc(CHUNK);
  let x = seed + 1;
  for (let i = 0; i < CHUNK; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    template[i] = (x >>> 24) % 16 + 0x61;
  }
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= FILE_SIZE) return void this.push(null);
      const chunk = Buffer.from(template);
      chunk.writeUInt32BE(sent, 0);
      sent += CHUNK;
      this.push(chunk);
    },
  });
}

function* entries(): Generator<{ entry: TarEntryInit; body?: Readable }> {
  yield { entry: { path: 'data', type: 'directory' } };
  for (let i = 0; i < FILES; i++) {
    yield { entry: { path: `data/blob-${i}.bin`, type: 'file', size: FILE_SIZE, mtime: 1_700_000_000_000 }, body: content(i) };
  }
}

describe('memory', () => {
  it('300 MB layer: encode (gzip) → digestLayer + listTar in one pass; RSS grows < 100 MB', async () => {
    // Warm up codecs and JIT so their one-time allocations are not counted.
    const warm = encodeLayer(packTar([{ entry: { path: 'w', type: 'file' }, body: Buffer.alloc(MB) }]), 'gzip');
    await scanLayer(warm.stream, { what: 'warm-up', consume: (t) => listTar(t, { what: 'warm-up' }) });
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
    const started = performance.now();
    try {
      const layer = encodeLayer(packTar(entries()), 'gzip', { level: 1 });
      const scanned = await scanLayer(layer.stream, { what: 'synthetic', consume: (t) => listTar(t, { what: 'synthetic' }) });
      const written = await layer.result();
      const seconds = (performance.now() - started) / 1000;
      expect(scanned.size).toBe(512 + FILES * (512 + FILE_SIZE) + 1024);
      expect(scanned.value).toHaveLength(FILES + 1);
      expect({ digest: scanned.digest, diffId: scanned.diffId, size: scanned.size }).toEqual({
        digest: written.digest,
        diffId: written.diffId,
        size: written.size,
      });
      peak = Math.max(peak, process.memoryUsage().rss);
      console.log(
        `[tar memory] ${(scanned.size / MB).toFixed(0)} MB tar, ${(scanned.compressedSize / MB).toFixed(0)} MB gzip: ` +
          `write+gzip+gunzip+2×sha256+index in ${seconds.toFixed(1)} s; RSS +${((peak - base) / MB).toFixed(1)} MB`,
      );
      expect(peak - base).toBeLessThan(100 * MB);
    } finally {
      clearInterval(sampler);
    }
  }, 120_000);
});
