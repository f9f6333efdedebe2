// Compression detection and codecs: containers/image's magic samples, round trips checked
// against the gzip and zstd command-line tools, corrupt input, determinism.
import { execFile, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { compressBytes, compressStream, decompressArchive, decompressStream, detectCompression, type Compression } from '../../src/tar/index.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { failure } from '../support/errors.js';

const run = promisify(execFile);
const hasZstdCli = await run('zstd', ['--version']).then(
  () => true,
  () => false,
);

async function decompress(bytes: Buffer, what = 'input', chunk = 0): Promise<{ compression: Compression; out: Buffer }> {
  const parts = chunk > 0 ? Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk)) : [bytes];
  const { compression, stream } = await decompressStream(Readable.from(parts), { what });
  return { compression, out: await buffer(stream) };
}

async function compress(compression: Compression, bytes: Buffer, level?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([bytes]), compressStream(compression, level === undefined ? {} : { level }), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  });
  return Buffer.concat(chunks);
}

/** Pipes bytes through a command and returns its stdout. */
function through(cmd: string, args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}`))));
    child.stdin.end(input);
  });
}

const fixture = (ext: string): string => conformancePath('containers-image/pkg/compression/fixtures', `Hello.${ext}`);


const payload = Buffer.concat(Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} ${'abc'.repeat(i % 17)}\n`)));

describe.skipIf(!hasShared)('containers/image compression samples', () => {
  it('detects gzip, zstd and none by magic, and decodes each to "Hello"', async () => {
    for (const [ext, expected] of [['gz', 'gzip'], ['zst', 'zstd'], ['uncompressed', 'none']] as const) {
      const bytes = await readFile(fixture(ext));
      expect(detectCompression(bytes.subarray(0, 4))).toBe(expected);
      const { compression, stream } = await decompressStream(createReadStream(fixture(ext)), { what: ext });
      expect(compression).toBe(expected);
      expect((await buffer(stream)).toString()).toBe('Hello');
    }
  });

  it('bzip2 and xz are refused as unsupported, naming the input and the compression', async () => {
    for (const [ext, name] of [['bz2', 'bzip2'], ['xz', 'xz']] as const) {
      const bytes = await readFile(fixture(ext));
      expect(detectCompression(bytes)).toBe('none');
      const err = await failure(decompressStream(createReadStream(fixture(ext)), { what: `Hello.${ext}` }));
      expect(err.code).toBe('unsupported');
      expect(err.message).toContain(`Hello.${ext}`);
      expect(err.data).toMatchObject({ compression: name });
    }
  });
});

describe.skipIf(!hasShared)('decompressArchive (ADD, build contexts): also bzip2 and xz, through their programs', () => {
  it('decodes the containers/image samples of every compression', async () => {
    for (const [ext, name] of [['bz2', 'bzip2'], ['xz', 'xz'], ['gz', 'gzip'], ['zst', 'zstd']] as const) {
      const { compression, stream } = await decompressArchive(createReadStream(fixture(ext)), { what: `Hello.${ext}` });
      expect([compression, (await buffer(stream)).toString()]).toEqual([name, 'Hello']);
    }
  });

  it('a corrupt xz or bzip2 stream fails as invalid-archive, naming the input; stopping early ends the program', async () => {
    for (const ext of ['bz2', 'xz'] as const) {
      const good = await readFile(fixture(ext));
      const corrupt = Buffer.concat([good.subarray(0, 12), Buffer.alloc(100, 7)]);
      const { stream } = await decompressArchive(Readable.from([corrupt]), { what: `bad.${ext}` });
      const err = await failure(buffer(stream));
      expect([err.code, err.message]).toEqual(['invalid-archive', expect.stringContaining(`bad.${ext}: corrupt`)]);
    }
    const big = await run('sh', ['-c', 'head -c 4000000 /dev/zero | xz -1 | base64 -w0'], { maxBuffer: 1 << 24 });
    const { stream } = await decompressArchive(Readable.from([Buffer.from(big.stdout, 'base64')]), { what: 'zeros.xz' });
    for await (const chunk of stream) {
      expect((chunk as Buffer).length).toBeGreaterThan(0);
      break; // destroys the stream: the xz process is killed, nothing hangs
    }
    expect(stream.destroyed).toBe(true);
  });
});

describe('codecs', () => {
  it('detectCompression needs only the first bytes and defaults to none', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f]))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
    expect(detectCompression(Buffer.from('BZh'))).toBe('none');
  });

  it('round-trips gzip, zstd and none; input split into tiny chunks is fine', async () => {
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const packed = await compress(c, payload);
      if (c !== 'none') expect(packed.length).toBeLessThan(payload.length / 3);
      const whole = await decompress(packed);
      expect(whole.compression).toBe(c);
      expect(whole.out.equals(payload)).toBe(true);
      const split = await decompress(packed, 'x', 3);
      expect(split.out.equals(payload)).toBe(true);
    }
  });

  it('an empty input decodes as empty, uncompressed', async () => {
    expect(await decompress(Buffer.alloc(0))).toEqual({ compression: 'none', out: Buffer.alloc(0) });
  });

  it('our gzip is read by `gzip -d`, and `gzip` output by us', async () => {
    expect((await through('gzip', ['-dc'], await compress('gzip', payload))).equals(payload)).toBe(true);
    const byTool = await through('gzip', ['-9c'], payload);
    expect((await decompress(byTool)).out.equals(payload)).toBe(true);
  });

  it.skipIf(!hasZstdCli)('our zstd is read by `zstd -d`, and `zstd` output (with checksum) by us', async () => {
    expect((await through('zstd', ['-dc'], await compress('zstd', payload))).equals(payload)).toBe(true);
    const byTool = await through('zstd', ['-19', '-c', '--check'], payload);
    expect((await decompress(byTool)).out.equals(payload)).toBe(true);
  });

  it('multi-member gzip and multi-frame zstd decode as their concatenation', async () => {
    const gz = Buffer.concat([await compress('gzip', Buffer.from('ab')), await compress('gzip', Buffer.from('cd'))]);
    expect((await decompress(gz)).out.toString()).toBe('abcd');
    const zst = Buffer.concat([await compress('zstd', Buffer.from('ab')), await compress('zstd', Buffer.from('cd'))]);
    expect((await decompress(zst)).out.toString()).toBe('abcd');
  });

  it('is deterministic: same input and level, same bytes (gzip header mtime 0)', async () => {
    for (const c of ['gzip', 'zstd'] as const) {
      const a = await compress(c, payload);
      const b = await compress(c, payload);
      expect(a.equals(b)).toBe(true);
    }
    const gz = await compress('gzip', payload);
    expect(gz.readUInt32LE(4)).toBe(0); // MTIME
    expect(await compress('gzip', payload, 1)).not.toEqual(await compress('gzip', payload, 9));
  });

  it('corrupt and truncated data fail with invalid-archive naming the input', async () => {
    for (const c of ['gzip', 'zstd'] as const) {
      const packed = await compress(c, payload);
      const truncated = packed.subarray(0, Math.floor(packed.length / 2));
      const t = await failure(decompress(truncated, `truncated.${c}`));
      expect(t.code).toBe('invalid-archive');
      expect(t.message).toContain(`truncated.${c}`);
      expect(t.data).toMatchObject({ what: `truncated.${c}`, compression: c });
      const corrupt = Buffer.from(packed);
      for (let i = 20; i < 60; i++) corrupt[i] = (corrupt[i] ?? 0) ^ 0x5a;
      const k = await failure(decompress(corrupt, `corrupt.${c}`));
      expect(k.code).toBe('invalid-archive');
      expect(k.message).toContain(`corrupt.${c}`);
    }
    const zerosAfter = Buffer.concat([gzipSync(Buffer.from('x')), Buffer.alloc(1000)]);
    expect((await decompress(zerosAfter)).out.toString()).toBe('x'); // zlib ignores zero padding
    const garbageAfter = Buffer.concat([gzipSync(Buffer.from('x')), Buffer.from('garbage!!')]);
    expect((await failure(decompress(garbageAfter, 'tail.gz'))).code).toBe('invalid-archive');
  });

  it('errors of the input stream pass through unchanged', async () => {
    const broken = new Readable({ read() {} });
    broken.push(gzipSync(payload).subarray(0, 100));
    const { stream } = await decompressStream(broken, { what: 'x' });
    const boom = Object.assign(new Error('disk on fire'), { code: 'EIO' });
    setTimeout(() => broken.destroy(boom), 10);
    await expect(buffer(stream)).rejects.toBe(boom);
  });

  it('destroying the output releases the input', async () => {
    const input = Readable.from((function* () {
      for (;;) yield gzipSync(payload);
    })());
    const { stream } = await decompressStream(input, { what: 'endless' });
    await new Promise((r) => stream.once('data', r));
    stream.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(input.destroyed).toBe(true);
  });

  it('compressBytes gives the bytes compressStream gives, however the stream input was split', async () => {
    for (const level of [undefined, 1, 9]) {
      const options = level === undefined ? {} : { level };
      const chunks: Buffer[] = [];
      await pipeline(
        Readable.from([payload.subarray(0, 1), payload.subarray(1, 70_001), payload.subarray(70_001)]),
        compressStream('gzip', options),
        async (src: AsyncIterable<Buffer>) => {
          for await (const c of src) chunks.push(c);
        },
      );
      expect(Buffer.from(compressBytes('gzip', payload, options)).equals(Buffer.concat(chunks))).toBe(true);
    }
    expect(Buffer.from(compressBytes('none', payload)).equals(payload)).toBe(true);
    expect(() => compressBytes('gzip', payload, { level: 0 })).toThrow(/level/);
    expect(() => compressBytes('none', payload, { level: 1.5 })).toThrow(/integer/);
  });

  it('rejects unknown compressions and bad levels', () => {
    const err = (() => {
      try {
        compressStream('lz4' as Compression);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isCairnError(err, 'unsupported')).toBe(true);
    expect(() => compressStream('gzip', { level: 12 })).toThrow(/level/);
    expect(() => compressStream('zstd', { level: 0 })).toThrow(/level/);
  });
});

describe('files on disk', () => {
  it('decodes a .tar.gz written by GNU tar + gzip', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-comp-'));
    try {
      await writeFile(path.join(dir, 'a.txt'), payload);
      await run('tar', ['-C', dir, '-czf', path.join(dir, 'a.tar.gz'), 'a.txt']);
      const { compression, stream } = await decompressStream(createReadStream(path.join(dir, 'a.tar.gz')), { what: 'a.tar.gz' });
      expect(compression).toBe('gzip');
      const plain = (await run('gzip', ['-dc', path.join(dir, 'a.tar.gz')], { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout;
      expect((await buffer(stream)).equals(plain)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
