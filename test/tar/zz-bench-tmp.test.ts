import { createReadStream } from 'node:fs';
import { it } from 'vitest';
import { digestLayer } from '../../src/tar/index.js';
it('bench', async () => {
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = await digestLayer(createReadStream((process.env.BENCH_FILE ?? '/tmp/bench-usr.tar.gz'), { highWaterMark: 256 * 1024 }), { what: 'bench' });
    const s = (performance.now() - t) / 1000;
    console.log(`run ${i}: ${s.toFixed(2)} s; compressed ${(r.compressedSize / 1e6 / s).toFixed(1)} MB/s, uncompressed ${(r.size / 1e6 / s).toFixed(1)} MB/s`, r.digest, r.diffId);
  }
}, 300_000);
