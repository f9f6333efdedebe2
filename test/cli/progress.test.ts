/**
 * Progress bars: drawn on a TTY for transfers that last longer than a moment, erased at the
 * end; nothing at all when stderr is piped or the transfer is quick.
 */
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { CliIO } from '../../src/cli/context.js';
import { progressFor } from '../../src/cli/progress.js';
import { digestOf } from '../../src/digest/index.js';

function io(tty: boolean): { io: CliIO; written: () => string } {
  const stderr = Object.assign(new PassThrough(), { isTTY: tty, columns: 80 });
  const chunks: Buffer[] = [];
  stderr.on('data', (c: Buffer) => chunks.push(c));
  const stdout = new PassThrough();
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {} }, written: () => Buffer.concat(chunks).toString('utf8') };
}

/** 10 chunks of 1 kB, `delay` ms apart. */
function slowSource(delay: number): Readable {
  return Readable.from((async function* () {
    for (let i = 0; i < 10; i++) {
      await sleep(delay);
      yield Buffer.alloc(1000, i);
    }
  })());
}

async function transfer(target: ReturnType<typeof io>, delay: number): Promise<number> {
  const progress = progressFor(target.io);
  const descriptor = { mediaType: 'application/octet-stream', digest: digestOf('x'), size: 10_000 };
  let received = 0;
  await pipeline(progress.wrapBlob(descriptor, slowSource(delay)), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) received += chunk.length;
  });
  progress.done();
  return received;
}

describe('progress bars', () => {
  it('draws a bar on a TTY for a slow transfer, then erases it', async () => {
    const target = io(true);
    expect(await transfer(target, 60)).toBe(10_000);
    const out = target.written();
    expect(out).toContain(`${digestOf('x').slice(7, 19)}: [`);
    expect(out).toMatch(/10kB\/10kB/);
    expect(out.endsWith('\x1b[J')).toBe(true);
  });

  it('stays quiet when piped, and for a quick transfer on a TTY', async () => {
    const piped = io(false);
    expect(await transfer(piped, 60)).toBe(10_000);
    expect(piped.written()).toBe('');
    const quick = io(true);
    expect(await transfer(quick, 0)).toBe(10_000);
    expect(quick.written()).toBe('');
  });
});
