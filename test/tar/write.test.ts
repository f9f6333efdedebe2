// The deterministic writer: GNU tar extracts what we write exactly (modes, owners, links,
// devices, xattrs, sub-second mtimes); PAX only when needed; same entries → same bytes; clamp;
// ordering rule; argument and size errors.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import {
  comparePaths,
  createTarWriter,
  listTar,
  packTar,
  packTarSmall,
  sortEntries,
  tarBytes,
  tarEntries,
  type TarBody,
  type TarEntryInit,
  type TarWriterOptions,
} from '../../src/tar/index.js';
import { removeDir, tempDir } from '../support/images.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let work: string;

beforeAll(async () => (work = await tempDir('cairn-tar-write-')));
afterAll(() => removeDir(work));

type Item = { entry: TarEntryInit; body?: TarBody };

async function pack(items: Item[], options?: TarWriterOptions): Promise<Buffer> {
  return buffer(packTar(items, options));
}

const LONG = `${'dir-with-a-long-name/'.repeat(6)}file-at-the-end.txt`;
const sample = (): Item[] => [
  { entry: { path: 'etc', type: 'directory', mtime: new Date('2024-01-02T03:04:05Z') } },
  { entry: { path: 'etc/hostname', type: 'file', mode: 0o600, uid: 1000, gid: 1001, mtime: 1_700_000_000_123 }, body: Buffer.from('cairn\n') },
  { entry: { path: 'etc/streamed', type: 'file', size: 300_000, mtime: 1_700_000_000_000 }, body: Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(200_000, 2)]) },
  { entry: { path: LONG, type: 'file', mtime: 1_700_000_000_000 }, body: Buffer.from('deep\n') },
  { entry: { path: 'ünïcødé/文件', type: 'file', mtime: 0 }, body: Buffer.from('u\n') },
  { entry: { path: 'bin', type: 'symlink', linkname: 'usr/bin', mtime: 1_700_000_000_000 } },
  { entry: { path: 'far', type: 'symlink', linkname: `/${'t'.repeat(150)}`, mtime: 1_700_000_000_000 } },
  { entry: { path: 'etc/hosts-link', type: 'hardlink', linkname: 'etc/hostname', mtime: 1_700_000_000_000 } },
  { entry: { path: 'suid', type: 'file', mode: 0o4755, mtime: 1_700_000_000_000 }, body: Buffer.from('#!') },
  { entry: { path: 'tmp', type: 'directory', mode: 0o1777, mtime: 1_700_000_000_000 } },
  { entry: { path: 'fifo', type: 'fifo', mode: 0o600, mtime: 1_700_000_000_000 } },
  { entry: { path: 'null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3, mtime: 1_700_000_000_000 } },
  { entry: { path: 'loop0', type: 'block', mode: 0o660, devmajor: 7, devminor: 0, mtime: 1_700_000_000_000 } },
  { entry: { path: 'bigid', type: 'file', uid: 3_000_000, gid: 4_000_000, mtime: 1_700_000_000_000 }, body: Buffer.from('ids') },
  {
    entry: { path: 'xattr', type: 'file', mtime: 1_700_000_000_000, xattrs: { 'user.b': Buffer.from([0, 1, 0xff]), 'user.a': Buffer.from('v') } },
    body: Buffer.from('x'),
  },
];

describe('GNU tar reads what we write', () => {
  it('extracts every entry with its type, mode, owner, mtime (ms), link, device and content', async () => {
    const bytes = await pack(sample());
    const file = path.join(work, 'sample.tar');
    await writeFile(file, bytes);
    const listing = (await run('tar', ['--numeric-owner', '-tvf', file])).stdout;
    expect(listing).toContain(LONG);
    expect(listing).toContain('ünïcødé/文件');
    const out = path.join(work, 'out');
    await mkdir(out);
    // --xattrs restores user.* attributes; extraction as root keeps owners, devices and modes.
    await run('tar', ['--xattrs', '--xattrs-include=*', '--same-permissions', '--numeric-owner', '-C', out, '-xf', file]);
    const st = (p: string) => lstat(path.join(out, p), { bigint: true });
    expect((await readFile(path.join(out, 'etc/hostname'))).toString()).toBe('cairn\n');
    expect((await readFile(path.join(out, 'etc/streamed'))).equals(Buffer.concat([Buffer.alloc(100_000, 1), Buffer.alloc(200_000, 2)]))).toBe(true);
    expect((await readFile(path.join(out, LONG))).toString()).toBe('deep\n');
    expect((await readFile(path.join(out, 'ünïcødé/文件'))).toString()).toBe('u\n');
    const host = await st('etc/hostname');
    expect(Number(host.mode) & 0o7777).toBe(0o600);
    expect(host.mtimeNs).toBe(1_700_000_000_123_000_000n);
    // (GNU tar re-touches `etc` when it later links into it, so check a leaf directory.)
    expect(Number((await st('tmp')).mtimeMs)).toBe(1_700_000_000_000);
    expect((await st('etc/hosts-link')).ino).toBe(host.ino);
    expect(await readlink(path.join(out, 'bin'))).toBe('usr/bin');
    expect(await readlink(path.join(out, 'far'))).toBe(`/${'t'.repeat(150)}`);
    expect(Number((await st('suid')).mode) & 0o7777).toBe(0o4755);
    expect(Number((await st('tmp')).mode) & 0o7777).toBe(0o1777);
    expect((await st('fifo')).isFIFO()).toBe(true);
    if (isRoot) {
      expect([Number(host.uid), Number(host.gid)]).toEqual([1000, 1001]);
      const big = await st('bigid');
      expect([Number(big.uid), Number(big.gid)]).toEqual([3_000_000, 4_000_000]);
      const dev = await st('null').catch(() => undefined);
      if (dev?.isCharacterDevice()) expect(Number(dev.rdev)).toBe(0x103);
    }
    const xattrs = await run('python3', ['-c', `import os; p=${JSON.stringify(path.join(out, 'xattr'))}; print(os.getxattr(p,'user.a').hex(), os.getxattr(p,'user.b').hex())`]).catch(() => undefined);
    if (xattrs) expect(xattrs.stdout.trim()).toBe('76 0001ff');
  });

  it('round-trips through our reader with content offsets', async () => {
    const bytes = await pack(sample());
    const entries = await listTar(Readable.from([bytes]), { what: 'sample' });
    expect(entries.map((e) => e.path)).toEqual(sample().map((i) => i.entry.path));
    const host = entries[1];
    expect(host).toMatchObject({ path: 'etc/hostname', mode: 0o600, uid: 1000, gid: 1001, size: 6 });
    expect(host?.mtime.getTime()).toBe(1_700_000_000_123);
    expect(bytes.subarray(host?.offset, (host?.offset ?? 0) + 6).toString()).toBe('cairn\n');
    expect(entries.find((e) => e.path === 'xattr')?.xattrs).toEqual({ 'user.a': Buffer.from('v'), 'user.b': Buffer.from([0, 1, 0xff]) });
    expect(entries.find((e) => e.path === 'etc/hosts-link')?.linkname).toBe('etc/hostname');
    expect(entries.find((e) => e.path === 'null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
    for (const e of entries) expect(e.uname ?? e.gname).toBeUndefined();
  });
});

describe('format rules', () => {
  it('writes no PAX header when USTAR fields suffice, and none of atime/ctime/uname', async () => {
    const bytes = await pack([{ entry: { path: 'a', type: 'file', mtime: 1_000_000_000_000 }, body: Buffer.from('x') }]);
    expect(bytes.length).toBe(512 + 512 + 1024); // header, one data block, footer: no 10 KiB record
    expect(bytes.subarray(257, 265).toString('latin1')).toBe('ustar\x0000');
    expect(bytes.subarray(265, 329).every((b) => b === 0)).toBe(true); // uname, gname empty
    expect(bytes.subarray(345, 500).every((b) => b === 0)).toBe(true); // no prefix
    expect(bytes.subarray(1024).every((b) => b === 0)).toBe(true);
  });

  it('PAX records only for what does not fit: long path, fraction of a second, big ids, xattrs', async () => {
    const pax = async (entry: TarEntryInit, body?: Buffer): Promise<string> => {
      const bytes = await pack([{ entry, ...(body ? { body } : {}) }]);
      if (bytes[156] !== 0x78) return '';
      const size = parseInt(bytes.subarray(124, 135).toString('latin1'), 8);
      return bytes.subarray(512, 512 + size).toString('latin1');
    };
    expect(await pax({ path: 'd'.repeat(99), type: 'directory' })).toBe('');
    expect(await pax({ path: 'd'.repeat(100), type: 'directory' })).toBe(`111 path=${'d'.repeat(100)}/\n`);
    expect(await pax({ path: 'a', type: 'file', mtime: 1_500 })).toBe('13 mtime=1.5\n');
    expect(await pax({ path: 'a', type: 'file', mtime: -2_250 })).toBe('15 mtime=-2.25\n');
    expect(await pax({ path: 'a', type: 'file', uid: 2_097_151 })).toBe('');
    expect(await pax({ path: 'a', type: 'file', uid: 2_097_152 })).toBe('15 uid=2097152\n');
    expect(await pax({ path: 'é', type: 'file' })).toBe('11 path=\xc3\xa9\n');
    expect(await pax({ path: 'a', type: 'file', xattrs: { 'user.z': Buffer.from('1'), 'user.a': Buffer.from('2') } })).toBe(
      '25 SCHILY.xattr.user.a=2\n25 SCHILY.xattr.user.z=1\n',
    );
  });

  it('names the PAX header like Go (dir/PaxHeaders.0/base); directories get a trailing slash; root is ./', async () => {
    const bytes = await pack([
      { entry: { path: '.', type: 'directory' } },
      { entry: { path: `x/${'n'.repeat(120)}`, type: 'directory' } },
    ]);
    expect(bytes.subarray(0, 3).toString('latin1')).toBe('./\0');
    expect(bytes.subarray(512, 512 + 100).toString('latin1').replace(/\0+$/, '')).toBe(`x/PaxHeaders.0/${'n'.repeat(85)}`);
    const entries = await listTar(Readable.from([bytes]), { what: 't' });
    expect(entries.map((e) => [e.path, e.type])).toEqual([
      ['.', 'directory'],
      [`x/${'n'.repeat(120)}`, 'directory'],
    ]);
  });

  it('clampMtime is SOURCE_DATE_EPOCH: newer entries take the clamp, older keep theirs', async () => {
    const clamp = new Date('2022-01-23T12:34:56Z');
    const bytes = await pack(
      [
        { entry: { path: 'old', type: 'file', mtime: new Date('2022-01-01T00:00:00Z') } },
        { entry: { path: 'new', type: 'file', mtime: new Date('2030-01-01T00:00:00.5Z') } },
      ],
      { clampMtime: clamp },
    );
    const entries = await listTar(Readable.from([bytes]), { what: 't' });
    expect(entries.map((e) => e.mtime.toISOString())).toEqual(['2022-01-01T00:00:00.000Z', clamp.toISOString()]);
  });

  it('same entries in, identical bytes out (sha256 of 30 runs)', async () => {
    const digests = new Set<string>();
    for (let i = 0; i < 30; i++) digests.add(createHash('sha256').update(await pack(sample())).digest('hex'));
    expect(digests.size).toBe(1);
  });
});

describe('writer contract', () => {
  it('awaits the reader: add() does not resolve while the consumer is not reading', async () => {
    const tar = createTarWriter();
    let resolved = false;
    const adding = tar.add({ path: 'big', type: 'file', size: 4 << 20 }, Readable.from([Buffer.alloc(4 << 20)])).then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(resolved).toBe(false);
    const collected = buffer(tar.stream);
    await adding;
    await tar.finish();
    expect((await collected).length).toBe(512 + (4 << 20) + 1024);
  });

  it('a body of the wrong size fails with size-mismatch and destroys the stream', async () => {
    for (const body of [Buffer.from('abc'), Readable.from([Buffer.from('abcdef')]), Readable.from([Buffer.from('a')])]) {
      const tar = createTarWriter();
      const out = buffer(tar.stream).catch((e: unknown) => e);
      const err = await tar.add({ path: 'f', type: 'file', size: 4 }, body).catch((e: unknown) => e);
      expect(isCairnError(err, 'size-mismatch')).toBe(true);
      expect(await out).toBe(err);
      expect(await tar.add({ path: 'g', type: 'directory' }).catch((e: unknown) => e)).toBe(err);
    }
  });

  it('rejects bad entries with invalid-argument', async () => {
    const bad: Array<[TarEntryInit, TarBody?]> = [
      [{ path: '', type: 'file' }],
      [{ path: 'a\0b', type: 'file' }],
      [{ path: 'a', type: 'file', mode: 0o10000 }],
      [{ path: 'a', type: 'file', uid: -1 }],
      [{ path: 'a', type: 'file', gid: 1.5 }],
      [{ path: 'a', type: 'symlink' }],
      [{ path: 'a', type: 'directory' }, Buffer.from('x')],
      [{ path: 'a', type: 'directory', size: 3 }],
      [{ path: 'a', type: 'file' }, Readable.from([Buffer.from('x')])],
      [{ path: 'a', type: 'file', xattrs: { 'a=b': Buffer.from('') } }],
      [{ path: 'a', type: 'char', devmajor: 1 << 22 }],
      [{ path: 'a', type: 'socket' as 'file' }],
    ];
    for (const [entry, body] of bad) {
      const tar = createTarWriter();
      tar.stream.on('error', () => undefined);
      const err = await tar.add(entry, body).catch((e: unknown) => e);
      expect(isCairnError(err, 'invalid-argument'), JSON.stringify(entry)).toBe(true);
    }
  });

  it('add() after finish() is a conflict; a destroyed output stops the writer', async () => {
    const tar = createTarWriter();
    const out = buffer(tar.stream);
    await tar.finish();
    expect(isCairnError(await tar.add({ path: 'a', type: 'file' }).catch((e: unknown) => e), 'conflict')).toBe(true);
    expect((await out).length).toBe(1024);
    const t2 = createTarWriter();
    t2.stream.destroy();
    expect(await t2.add({ path: 'a', type: 'file' }).catch((e: unknown) => e)).toBeInstanceOf(Error);
  });
});

describe('sortEntries', () => {
  it('orders component-wise by bytes: parents first, children contiguous, root first, stable', () => {
    const paths = ['a-b', 'b', 'a/c', '.', 'a', 'a/c/d', 'a/b', 'A', 'é', 'z', 'a.txt', '\u{1F600}', '\uFFFD'];
    const sorted = sortEntries(paths.map((p) => ({ path: p }))).map((e) => e.path);
    expect(sorted).toEqual(['.', 'A', 'a', 'a/b', 'a/c', 'a/c/d', 'a-b', 'a.txt', 'b', 'z', 'é', '\uFFFD', '\u{1F600}']);
    const dups = sortEntries([
      { path: 'x', n: 1 },
      { path: 'a', n: 2 },
      { path: 'x', n: 3 },
    ]).map((e) => e.n);
    expect(dups).toEqual([2, 1, 3]);
    expect(comparePaths('./a/', 'a')).toBe(0);
  });

  it('matches GNU tar --sort=name on a real tree', async () => {
    const dir = path.join(work, 'sort');
    for (const d of ['a', 'a/c', 'a-b', 'b.d']) await mkdir(path.join(dir, d), { recursive: true });
    for (const f of ['a/c/f', 'a/z', 'a-b/y', 'a.txt', 'b.d/x', 'B']) await writeFile(path.join(dir, f), '');
    const listed = (await run('tar', ['--sort=name', '-C', dir, '-cf', '-', '.'], { encoding: 'buffer' })).stdout;
    const order = (await listTar(Readable.from([listed]), { what: 'sorted' })).map((e) => e.path);
    expect(sortEntries(order.map((p) => ({ path: p }))).map((e) => e.path)).toEqual(order);
  });
});

describe('packTar', () => {
  it('accepts async iterables and surfaces body errors on the stream', async () => {
    const failing = new Readable({ read() {} });
    const stream = packTar(
      (async function* () {
        yield { entry: { path: 'ok', type: 'directory' as const } };
        yield { entry: { path: 'f', type: 'file' as const, size: 10 }, body: failing };
      })(),
    );
    setTimeout(() => failing.destroy(new Error('source broke')), 20);
    await expect(buffer(stream)).rejects.toThrow('source broke');
  });

  it('output is a valid tar to tarEntries even when consumed slowly', async () => {
    const items: Item[] = Array.from({ length: 50 }, (_, i) => ({ entry: { path: `f${String(i).padStart(2, '0')}`, type: 'file' }, body: Buffer.alloc(i * 100, i) }));
    let n = 0;
    for await (const { entry, body } of tarEntries(packTar(items), { what: 'slow' })) {
      await new Promise((r) => setImmediate(r));
      expect((await buffer(body)).equals(Buffer.alloc(n * 100, n))).toBe(true);
      expect(entry.path).toBe(`f${String(n).padStart(2, '0')}`);
      n++;
    }
    expect(n).toBe(50);
  });
});

describe('packTarSmall and tarBytes', () => {
  const inMemory = (): Item[] => sample().filter((item) => item.body === undefined || item.body instanceof Uint8Array);

  it('a small archive with every body in memory comes back as the bytes packTar streams', async () => {
    const small = await packTarSmall(inMemory(), 1 << 20, { clampMtime: new Date(1_600_000_000_000) });
    expect(small).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(small as Uint8Array).equals(await pack(inMemory(), { clampMtime: new Date(1_600_000_000_000) }))).toBe(true);
    expect(tarBytes([]).equals(await pack([]))).toBe(true);
  });

  it('a streamed body, or more than the limit, gives the stream of every entry, the ones read before included', async () => {
    const streamed = await packTarSmall(sample(), 1 << 20);
    expect(streamed).toBeInstanceOf(Readable);
    expect((await buffer(streamed as Readable)).equals(await pack(sample()))).toBe(true);
    const overLimit = await packTarSmall(inMemory(), 3 * 512);
    expect(overLimit).toBeInstanceOf(Readable);
    expect((await buffer(overLimit as Readable)).equals(await pack(inMemory()))).toBe(true);
  });

  it('a body of the wrong size, or a file without its body, is a size-mismatch', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return isCairnError(err) ? err.code : 'not a CairnError';
      }
      return undefined;
    };
    expect(code(() => tarBytes([{ entry: { path: 'f', type: 'file', size: 3 }, body: Buffer.from('four') }]))).toBe('size-mismatch');
    expect(code(() => tarBytes([{ entry: { path: 'f', type: 'file', size: 3 } }]))).toBe('size-mismatch');
  });
});
