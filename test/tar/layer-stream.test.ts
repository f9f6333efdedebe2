// One-pass layer digests against the tools: digest = `sha256sum blob`, diffID =
// `gzip -dc blob | sha256sum` (or zstd -dc); dive's BuildKit OCI tarballs in all three
// compressions; errors and early-stopping consumers.
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { digestLayer, encodeLayer, listTar, packTar, readIfSmall, scanLayer, tarEntries, type Compression } from '../../src/tar/index.js';
import { conformancePath, hasShared } from '../support/shared.js';

const run = promisify(execFile);
const sh = async (script: string): Promise<string> => (await run('sh', ['-c', script], { maxBuffer: 1 << 26 })).stdout.trim();
const sha = async (cmd: string): Promise<string> => `sha256:${(await sh(`${cmd} | sha256sum`)).split(' ')[0]}`;
const hasZstdCli = await run('zstd', ['--version']).then(
  () => true,
  () => false,
);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-layer-stream-'));
  const tree = path.join(work, 'tree');
  await mkdir(path.join(tree, 'usr/share'), { recursive: true });
  await writeFile(path.join(tree, 'usr/share/words'), Array.from({ length: 20_000 }, (_, i) => `word${i * 7919}\n`).join(''));
  await writeFile(path.join(tree, 'random.bin'), Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24)));
  await run('tar', ['--format=pax', '-C', tree, '-cf', path.join(work, 'layer.tar'), '.']);
  await sh(`gzip -c ${work}/layer.tar > ${work}/layer.tar.gz`);
  if (hasZstdCli) await sh(`zstd -q -c ${work}/layer.tar > ${work}/layer.tar.zst`);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('digestLayer', () => {
  for (const [ext, compression] of [['', 'none'], ['.gz', 'gzip'], ['.zst', 'zstd']] as const) {
    it.skipIf(ext === '.zst' && !hasZstdCli)(`${compression}: digest and diffID equal sha256sum of the blob and of its decompression`, async () => {
      const blob = path.join(work, `layer.tar${ext}`);
      const result = await digestLayer(createReadStream(blob, { highWaterMark: 7777 }), { what: blob });
      expect(result.compression).toBe(compression);
      expect(result.digest).toBe(await sha(`cat ${blob}`));
      expect(result.diffId).toBe(await sha(`cat ${work}/layer.tar`));
      expect(result.compressedSize).toBe(Number(await sh(`stat -c %s ${blob}`)));
      expect(result.size).toBe(Number(await sh(`stat -c %s ${work}/layer.tar`)));
    });
  }

  it('corrupt gzip fails with invalid-archive naming the blob, and releases the input', async () => {
    const good = await buffer(createReadStream(path.join(work, 'layer.tar.gz')));
    const bad = Buffer.from(good);
    for (let i = 1000; i < 1100; i++) bad[i] = 0;
    const input = Readable.from([bad.subarray(0, 5000), bad.subarray(5000)]);
    const err = await digestLayer(input, { what: 'layer sha256:bad' }).catch((e: unknown) => e);
    expect(isCairnError(err, 'invalid-archive')).toBe(true);
    expect((err as Error).message).toContain('layer sha256:bad');
    expect(input.destroyed).toBe(true);
    const cut = await digestLayer(Readable.from([good.subarray(0, good.length - 100)]), { what: 'cut.gz' }).catch((e: unknown) => e);
    expect(isCairnError(cut, 'invalid-archive')).toBe(true);
  });

  it('an input error rejects with that error', async () => {
    const input = new Readable({ read() {} });
    input.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
    setTimeout(() => input.destroy(new Error('network reset')), 10);
    await expect(digestLayer(input, { what: 'x' })).rejects.toThrow('network reset');
  });
});

describe('scanLayer', () => {
  it('a consumer that stops after one entry still gets digests of the whole layer', async () => {
    const blob = path.join(work, 'layer.tar.gz');
    const scanned = await scanLayer(createReadStream(blob), {
      what: blob,
      consume: async (tar) => {
        for await (const { entry } of tarEntries(tar, { what: blob })) return entry.path;
        return undefined;
      },
    });
    expect(scanned.value).toBe('.');
    expect(scanned.diffId).toBe(await sha(`cat ${work}/layer.tar`));
    expect(scanned.digest).toBe(await sha(`cat ${blob}`));
  });

  it('a consumer that throws rejects the scan with its error', async () => {
    const err = await scanLayer(createReadStream(path.join(work, 'layer.tar.gz')), {
      what: 'x',
      consume: async () => {
        throw new Error('index full');
      },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('index full');
  });
});

describe('encodeLayer', () => {
  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    it.skipIf(compression === 'zstd' && !hasZstdCli)(`${compression}: result matches sha256sum of the written blob and of the tool's decompression`, async () => {
      const file = path.join(work, `encoded.${compression}`);
      const layer = encodeLayer(createReadStream(path.join(work, 'layer.tar')), compression);
      await pipeline(layer.stream, createWriteStream(file));
      const result = await layer.result();
      expect(result.digest).toBe(await sha(`cat ${file}`));
      const decode = compression === 'gzip' ? 'gzip -dc' : compression === 'zstd' ? 'zstd -dc' : 'cat';
      expect(result.diffId).toBe(await sha(`${decode} ${file}`));
      expect(result.diffId).toBe(await sha(`cat ${work}/layer.tar`));
      expect(result.compressedSize).toBe(Number(await sh(`stat -c %s ${file}`)));
    });
  }

  it('the same entries written twice give the same digest and diffID (gzip and zstd)', async () => {
    const items = () => [
      { entry: { path: 'a', type: 'directory' as const } },
      { entry: { path: 'a/b', type: 'file' as const, mtime: 1_234_567_890_123 }, body: Buffer.alloc(50_000, 'q') },
    ];
    for (const c of ['gzip', 'zstd'] as Compression[]) {
      const once = async () => {
        const layer = encodeLayer(packTar(items()), c);
        await buffer(layer.stream);
        return layer.result();
      };
      expect(await once()).toEqual(await once());
    }
  });

  it('a source error rejects result() and fails the stream', async () => {
    const source = new Readable({ read() {} });
    const layer = encodeLayer(source, 'gzip');
    const reading = buffer(layer.stream).catch((e: unknown) => e);
    source.destroy(new Error('tar writer broke'));
    expect(((await reading) as Error).message).toBe('tar writer broke');
    await expect(layer.result()).rejects.toThrow('tar writer broke');
  });
});

describe('readIfSmall', () => {
  const tarOf = (bodySize: number) =>
    packTar([
      { entry: { path: 'a', type: 'directory' as const } },
      { entry: { path: 'a/b', type: 'file' as const, mtime: 1_234_567_890_123 }, body: Buffer.alloc(bodySize, 'q') },
    ]);

  it('a stream that ends within the limit comes back whole, as listTar reads it', async () => {
    const whole = await readIfSmall(tarOf(1000), 64 * 1024);
    expect(whole?.equals(await buffer(tarOf(1000)))).toBe(true);
    expect((await listTar(Readable.from([whole ?? Buffer.alloc(0)]), { what: 'small tar' })).map((e) => e.path)).toEqual(['a', 'a/b']);
  });

  it('a longer one is left to read from its start: the same bytes as if untouched', async () => {
    const expected = await buffer(tarOf(300_000));
    const tar = tarOf(300_000);
    expect(await readIfSmall(tar, 64 * 1024)).toBeUndefined();
    expect((await buffer(tar)).equals(expected)).toBe(true);
  });

  it('a source error rejects it', async () => {
    const source = new Readable({ read() {} });
    source.push(Buffer.alloc(10));
    setTimeout(() => source.destroy(new Error('walk failed')), 5);
    await expect(readIfSmall(source, 1024)).rejects.toThrow('walk failed');
  });
});

describe.skipIf(!hasShared)('dive OCI tarballs (BuildKit output)', () => {
  for (const [name, compression] of [
    ['uncompressed', 'none'],
    ['gzip', 'gzip'],
    ['zstd', 'zstd'],
    ['estargz', 'gzip'],
  ] as const) {
    it(`${name}: the layer blob digests to its descriptor, its diffID to the config, and holds README.md`, async () => {
      const file = conformancePath(`dive/.data/test-oci-${name}-image.tar`);
      const blobs = new Map<string, Buffer>();
      for await (const { entry, body } of tarEntries(createReadStream(file), { what: file })) {
        if (entry.type === 'file') blobs.set(entry.path, await buffer(body));
      }
      const json = (p: string): unknown => JSON.parse(blobs.get(p)?.toString() ?? 'null');
      const blobPath = (d: string): string => `blobs/${d.replace(':', '/')}`;
      const index = json('index.json') as { manifests: Array<{ digest: string }> };
      const manifest = json(blobPath(index.manifests[0]?.digest ?? '')) as {
        config: { digest: string };
        layers: Array<{ digest: string; size: number; mediaType: string }>;
      };
      const config = json(blobPath(manifest.config.digest)) as { rootfs: { diff_ids: string[] } };
      const layer = manifest.layers[0];
      if (layer === undefined) throw new Error('no layer');
      const scanned = await scanLayer(Readable.from([blobs.get(blobPath(layer.digest)) ?? Buffer.alloc(0)]), {
        what: layer.digest,
        consume: (tar) => listTar(tar, { what: layer.digest }),
      });
      expect(scanned.compression).toBe(compression);
      expect(layer.mediaType.endsWith(compression === 'none' ? '.tar' : `+${compression}`)).toBe(true);
      expect(scanned.digest).toBe(layer.digest);
      expect(scanned.compressedSize).toBe(layer.size);
      expect(scanned.diffId).toBe(config.rootfs.diff_ids[0]);
      expect(scanned.value?.map((e) => e.path)).toContain('README.md');
    });
  }
});
