// The json-file log (src/runtime/logs.ts) without any container: line splitting on bytes, the
// 16 KiB partial-line limit, torn lines, since/tail, and following until the writer is done.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogWriter, readLogFile, type LogLine } from '../../src/runtime/logs.js';
import { delay } from '../../src/runtime/proc.js';
import { tempDir, teardownAll } from './harness.js';

afterEach(teardownAll);

async function collect(gen: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of gen) out.push(line);
  return out;
}

describe('json-file log', () => {
  it('writes one JSON line per output line, per stream, keeping UTF-8 whole across chunks', async () => {
    const file = path.join(await tempDir(), 'container.log');
    const w = new LogWriter(file);
    const euro = Buffer.from('€\n'); // 3 bytes + newline, cut inside the character
    w.write('stdout', Buffer.from('a\nb'));
    w.write('stderr', Buffer.from('err\n'));
    w.write('stdout', Buffer.concat([Buffer.from('c'), euro.subarray(0, 1)]));
    w.write('stdout', euro.subarray(1));
    w.write('stdout', Buffer.from('tail'));
    await w.close();
    const lines = await collect(readLogFile(file));
    expect(lines.map((l) => [l.stream, l.log])).toEqual([
      ['stdout', 'a\n'],
      ['stderr', 'err\n'],
      ['stdout', 'bc€\n'],
      ['stdout', 'tail'],
    ]);
    expect(lines.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
  });

  it('makes no file for a container that printed nothing, which reads as an empty log', async () => {
    const file = path.join(await tempDir(), 'container.log');
    const w = new LogWriter(file);
    w.write('stdout', Buffer.alloc(0));
    await w.close();
    expect(existsSync(file)).toBe(false);
    expect(await collect(readLogFile(file))).toEqual([]);
    expect(await collect(readLogFile(file, { follow: true, finished: async () => true }))).toEqual([]);
  });

  it('cuts a line without newline at 16 KiB, as docker does', async () => {
    const file = path.join(await tempDir(), 'container.log');
    const w = new LogWriter(file);
    w.write('stdout', Buffer.alloc(20_000, 'x'));
    await w.close();
    expect((await collect(readLogFile(file))).map((l) => l.log.length)).toEqual([20_000]);
    const w2 = new LogWriter(file);
    for (let i = 0; i < 5; i++) w2.write('stdout', Buffer.alloc(4096, 'y'));
    await w2.close();
    expect((await collect(readLogFile(file))).map((l) => l.log.length)).toEqual([20_000, 16_384, 4096]);
  });

  it('skips a torn last line and honours since and tail', async () => {
    const file = path.join(await tempDir(), 'container.log');
    const line = (log: string, time: string) => `${JSON.stringify({ log, stream: 'stdout', time })}\n`;
    await writeFile(file, line('old\n', '2024-01-01T00:00:00.000Z') + line('new\n', '2024-06-01T00:00:00.000Z') + line('newer\n', '2024-07-01T00:00:00.000Z') + '{"log":"tor');
    expect((await collect(readLogFile(file))).map((l) => l.log)).toEqual(['old\n', 'new\n', 'newer\n']);
    expect((await collect(readLogFile(file, { since: new Date('2024-05-01T00:00:00Z') }))).map((l) => l.log)).toEqual(['new\n', 'newer\n']);
    expect((await collect(readLogFile(file, { tail: 1 }))).map((l) => l.log)).toEqual(['newer\n']);
  });

  it('keeps thousands of lines from both streams in the order they came, each whole', async () => {
    const file = path.join(await tempDir(), 'container.log');
    const w = new LogWriter(file);
    const expected: [string, string][] = [];
    for (let i = 0; i < 5000; i++) {
      const stream = i % 3 === 0 ? 'stderr' : 'stdout';
      const text = `line ${i} ${'x'.repeat(i % 200)}\n`;
      w.write(stream, Buffer.from(text));
      expected.push([stream, text]);
    }
    await w.close();
    expect((await collect(readLogFile(file))).map((l) => [l.stream, l.log])).toEqual(expected);
  });

  it('a log that cannot be written loses its lines, not the writer', async () => {
    const file = path.join(await tempDir(), 'no-such-dir', 'container.log');
    const w = new LogWriter(file);
    w.write('stdout', Buffer.from('lost\n'));
    await w.close();
    expect(existsSync(file)).toBe(false);
  });

  it('follows new lines until the container is finished', async () => {
    const file = path.join(await tempDir(), 'container.log');
    let done = false;
    const seen = collect(readLogFile(file, { follow: true, finished: async () => done }));
    const w = new LogWriter(file);
    for (const text of ['one\n', 'two\n', 'three\n']) {
      await delay(60);
      w.write('stdout', Buffer.from(text));
    }
    await w.close();
    done = true;
    expect((await seen).map((l) => l.log)).toEqual(['one\n', 'two\n', 'three\n']);
  });
});
