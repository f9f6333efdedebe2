/**
 * @module cli/progress
 * Progress bars for blob transfers, drawn on stderr only when it is a TTY and only for
 * transfers that last longer than a moment (nothing is drawn in the first 300 ms). Piped output
 * stays quiet. Bytes are counted by a pass-through on the blob stream.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Descriptor } from '../oci/types.js';
import { humanSize, truncateId } from './format.js';
import type { CliIO } from './context.js';

export interface Progress {
  wrapBlob(descriptor: Descriptor, stream: Readable): Readable;
  /** Erases the bars. */
  done(): void;
}

const QUIET: Progress = { wrapBlob: (_d, s) => s, done: () => {} };

export function progressFor(io: CliIO, quiet = false): Progress {
  if (quiet || !io.stderr.isTTY || io.env.CI === 'true') return QUIET;
  const started = Date.now();
  const bars = new Map<string, { done: number; total: number }>();
  let drawn = 0;
  let last = 0;
  const draw = (force = false): void => {
    const now = Date.now();
    if (now - started < 300 || (!force && now - last < 100)) return;
    last = now;
    const width = Math.max(10, Math.min(40, (io.stderr.columns ?? 80) - 40));
    let out = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const [digest, bar] of bars) {
      const ratio = bar.total > 0 ? Math.min(1, bar.done / bar.total) : 1;
      const fill = Math.round(ratio * width);
      out += `\x1b[2K${truncateId(digest)}: [${'='.repeat(fill)}${fill < width ? '>' : ''}${' '.repeat(Math.max(0, width - fill - 1))}] ${humanSize(bar.done)}/${humanSize(bar.total)}\n`;
    }
    drawn = bars.size;
    io.stderr.write(out);
  };
  return {
    wrapBlob(descriptor, stream) {
      const bar = { done: 0, total: descriptor.size };
      bars.set(descriptor.digest, bar);
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          bar.done += chunk.length;
          draw();
          callback(null, chunk);
        },
        flush(callback: TransformCallback) {
          draw(true);
          callback();
        },
      });
      stream.on('error', (err) => counter.destroy(err));
      return stream.pipe(counter);
    },
    done() {
      if (drawn > 0) io.stderr.write(`\x1b[${drawn}A\x1b[J`);
    },
  };
}
