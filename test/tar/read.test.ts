// The reader against archives written by GNU tar (pax and gnu formats) from a real tree, with
// offsets checked by slicing the archive bytes. Hand-made quirks are in read-quirks.test.ts.
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, utimes, writeFile, chmod, chown, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestStream } from '../../src/digest/stream.js';
import { BLOCK } from '../../src/tar/header.js';
import { listTar, tarEntries, type TarEntry } from '../../src/tar/index.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;

let work: string;
let root: string;
let hasXattr = false;
let hasDevices = false;
const archives: Record<string, Buffer> = {};
const LONG_DIR = `d${'x'.repeat(120)}`;
const LONG_FILE = `${LONG_DIR}/${'y'.repeat(60)}.txt`;
const LONG_TARGET = 'z'.repeat(150);
const UNICODE = 'ünïcødé-文件.txt';
const XATTR_VALUE = Buffer.from([0x68, 0x00, 0xff, 0x01]);
const BIG = Buffer.alloc(100_000).map((_, i) => (i * 7919) % 251);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-tar-read-'));
  root = path.join(work, 'root');
  await mkdir(path.join(root, 'dir'), { recursive: true });
  await writeFile(path.join(root, 'dir/file.txt'), 'hello\n');
  await mkdir(path.join(root, LONG_DIR));
  await writeFile(path.join(root, LONG_FILE), 'long name\n');
  await writeFile(path.join(root, UNICODE), 'unicode\n');
  await writeFile(path.join(root, 'big.bin'), BIG);
  await writeFile(path.join(root, 'empty'), '');
  await symlink('dir/file.txt', path.join(root, 'link'));
  await symlink(LONG_TARGET, path.join(root, 'longlink'));
  await link(path.join(root, 'dir/file.txt'), path.join(root, 'hard'));
  await run('mkfifo', [path.join(root, 'fifo')]);
  await writeFile(path.join(root, 'suid'), '#!/bin/sh\n');
  await chmod(path.join(root, 'suid'), 0o4755);
  await mkdir(path.join(root, 'tmp'));
  await chmod(path.join(root, 'tmp'), 0o1777);
  await mkdir(path.join(root, 'sgid'));
  await chmod(path.join(root, 'sgid'), 0o2750);
  await writeFile(path.join(root, 'owned'), 'owned\n');
  await writeFile(path.join(root, 'bigid'), 'big ids\n');
  if (isRoot) {
    await chown(path.join(root, 'owned'), 1234, 5678);
    await chown(path.join(root, 'bigid'), 3_000_000, 3_000_001);
    try {
      await run('mknod', [path.join(root, 'null'), 'c', '1', '3']);
      await run('mknod', [path.join(root, 'loop'), 'b', '7', '0']);
      hasDevices = true;
    } catch {
      hasDevices = false; // no CAP_MKNOD in this sandbox
    }
  }
  try {
    await run('python3', [
      '-c',
      `import os; os.setxattr(${JSON.stringify(path.join(root, 'dir/file.txt'))}, 'user.cairn', bytes([0x68,0,0xff,1]))`,
    ]);
    hasXattr = true;
  } catch {
    hasXattr = false;
  }
  // Sub-second mtime (set after every other change to the file).
  await utimes(path.join(root, 'dir/file.txt'), 1_600_000_000.123, 1_600_000_000.123);
  const make = async (name: string, args: string[]): Promise<void> => {
    const file = path.join(work, name);
    await run('tar', [...args, '-C', root, '-cf', file, '.']);
    archives[name] = await readFile(file);
  };
  await make('pax.tar', ['--format=pax', '--xattrs', '--xattrs-include=*']);
  await make('gnu.tar', ['--format=gnu']);
  await make('sorted-pax.tar', ['--format=pax', '--sort=name', '--numeric-owner']);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function read(bytes: Buffer, what = 'test.tar'): Promise<Array<{ entry: TarEntry; content: Buffer }>> {
  const out: Array<{ entry: TarEntry; content: Buffer }> = [];
  for await (const { entry, body } of tarEntries(Readable.from([bytes]), { what })) {
    out.push({ entry, content: await buffer(body) });
  }
  return out;
}

/** Feeds the archive in small uneven chunks so headers and bodies straddle chunk boundaries. */
function chunked(bytes: Buffer, size = 333): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

describe('reader vs GNU tar', () => {
  for (const name of ['pax.tar', 'gnu.tar', 'sorted-pax.tar']) {
    it(`${name}: every entry matches lstat of the source tree, offsets slice the content`, async () => {
      const bytes = archives[name] as Buffer;
      const items = await read(bytes, name);
      const listed = (await run('tar', ['-tf', path.join(work, name)])).stdout.trim().split('\n');
      expect(items.map((i) => i.entry.path)).toEqual(
        listed.map((l) => (l === './' ? '.' : l.replace(/^\.\//, '').replace(/\/$/, ''))),
      );
      const hardlinks = items.filter((i) => i.entry.type === 'hardlink');
      expect(hardlinks).toHaveLength(1);
      for (const { entry, content } of items) {
        const full = path.join(root, entry.path);
        const st = await lstat(full, { bigint: true });
        expect(entry.mode, entry.path).toBe(Number(st.mode) & 0o7777);
        expect(entry.uid, entry.path).toBe(Number(st.uid));
        expect(entry.gid, entry.path).toBe(Number(st.gid));
        const mtimeMs = Number(st.mtimeNs / 1_000_000n);
        expect(entry.mtime.getTime(), entry.path).toBe(name.includes('pax') ? mtimeMs : Math.floor(mtimeMs / 1000) * 1000);
        expect(entry.headerOffset).toBeLessThan(entry.offset);
        expect(entry.offset % BLOCK).toBe(0);
        if (entry.type === 'hardlink') {
          expect(['dir/file.txt', 'hard']).toContain(entry.path);
          expect(['dir/file.txt', 'hard']).toContain(entry.linkname);
          expect(entry.linkname).not.toBe(entry.path);
          expect(entry.size).toBe(0);
          continue;
        }
        if (st.isFile()) {
          expect(entry.type).toBe('file');
          const expected = await readFile(full);
          expect(content.equals(expected), entry.path).toBe(true);
          expect(entry.size).toBe(expected.length);
          expect(bytes.subarray(entry.offset, entry.offset + entry.size).equals(expected), entry.path).toBe(true);
        } else {
          expect(content.length).toBe(0);
          expect(entry.size).toBe(0);
        }
        if (st.isDirectory()) expect(entry.type).toBe('directory');
        if (st.isSymbolicLink()) {
          expect(entry.type).toBe('symlink');
          expect(entry.linkname).toBe(await readlink(full));
        }
        if (st.isFIFO()) expect(entry.type).toBe('fifo');
        if (st.isCharacterDevice() || st.isBlockDevice()) {
          expect(entry.type).toBe(st.isCharacterDevice() ? 'char' : 'block');
          expect(entry.devmajor).toBe(major(Number(st.rdev)));
          expect(entry.devminor).toBe(minor(Number(st.rdev)));
        }
      }
      const paths = items.map((i) => i.entry.path);
      expect(paths).toContain('.');
      expect(paths).toContain(LONG_FILE);
      expect(paths).toContain(UNICODE);
      expect(items.find((i) => i.entry.path === 'longlink')?.entry.linkname).toBe(LONG_TARGET);
      expect(items.find((i) => i.entry.path === 'suid')?.entry.mode).toBe(0o4755);
      expect(items.find((i) => i.entry.path === 'tmp')?.entry.mode).toBe(0o1777);
      expect(items.find((i) => i.entry.path === 'sgid')?.entry.mode).toBe(0o2750);
      if (isRoot) expect(items.find((i) => i.entry.path === 'bigid')?.entry.uid).toBe(3_000_000);
      if (hasDevices) expect(items.find((i) => i.entry.path === 'null')?.entry).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
    });
  }

  it('pax.tar: xattrs from SCHILY.xattr.* records are binary-exact', async (ctx) => {
    if (!hasXattr) ctx.skip();
    const items = await read(archives['pax.tar'] as Buffer);
    const file = items.find((i) => i.entry.path === 'dir/file.txt' || i.entry.path === 'hard');
    const withXattr = items.filter((i) => 'user.cairn' in i.entry.xattrs);
    expect(file).toBeDefined();
    expect(withXattr.length).toBeGreaterThan(0);
    expect(withXattr[0]?.entry.xattrs['user.cairn']?.equals(XATTR_VALUE)).toBe(true);
  });

  it('gives the same entries when the input arrives in small uneven chunks', async () => {
    for (const name of ['pax.tar', 'gnu.tar']) {
      const bytes = archives[name] as Buffer;
      const whole = await listTar(Readable.from([bytes]), { what: name });
      const pieces = await listTar(chunked(bytes, 97), { what: name });
      expect(pieces).toEqual(whole);
    }
  });

  it('reads the input to its end, record padding included, so a hasher before it sees every byte', async () => {
    const bytes = archives['gnu.tar'] as Buffer;
    expect(bytes.length % 10240).toBe(0);
    const hashing = new DigestStream();
    chunked(bytes, 4096).pipe(hashing);
    await listTar(hashing, { what: 'gnu.tar' });
    expect(hashing.size).toBe(bytes.length);
  });
  it('content() gives each entry\'s bytes in one buffer, like its body, across uneven chunks', async () => {
    for (const name of ['pax.tar', 'gnu.tar']) {
      const bytes = archives[name] as Buffer;
      const seen: Record<string, string> = {};
      for await (const { entry, content } of tarEntries(chunked(bytes, 97), { what: name })) {
        const data = await content();
        expect(data.length).toBe(entry.size);
        expect(data.equals(bytes.subarray(entry.offset, entry.offset + entry.size))).toBe(true);
        seen[entry.path] = entry.type === 'file' ? data.toString('latin1') : '';
      }
      expect(seen['big.bin']).toBe(Buffer.from(BIG).toString('latin1'));
      expect(seen['dir/file.txt']).toBe('hello\n');
    }
  });

  it('content() of a truncated entry is an invalid-archive error; after streaming the body it refuses', async () => {
    const bytes = archives['pax.tar'] as Buffer;
    const entries = await listTar(Readable.from([bytes]), { what: 'pax.tar' });
    const big = entries.find((e) => e.path === 'big.bin') as TarEntry;
    const cut = bytes.subarray(0, big.offset + 1000);
    const reading = (async () => {
      for await (const { entry, content } of tarEntries(Readable.from([cut]), { what: 'cut.tar' })) if (entry.path === 'big.bin') await content();
    })();
    await expect(reading).rejects.toMatchObject({ code: 'invalid-archive', message: expect.stringContaining('cut.tar') });
    const twice = (async () => {
      for await (const { entry, body, content } of tarEntries(Readable.from([bytes]), { what: 'pax.tar' })) {
        if (entry.path !== 'big.bin') continue;
        body.read(0);
        await new Promise((resolve) => setImmediate(resolve));
        await content();
      }
    })();
    await expect(twice).rejects.toThrow(/already being read as a stream/);
  });

  it('reads GNU tar output cut right after its last entry (no footer, as umoci writes)', async () => {
    const bytes = archives['pax.tar'] as Buffer;
    const entries = await listTar(Readable.from([bytes]), { what: 'pax.tar' });
    const last = entries[entries.length - 1] as TarEntry;
    const end = last.offset + Math.ceil(last.size / BLOCK) * BLOCK;
    expect(end).toBeLessThan(bytes.length);
    expect(await listTar(Readable.from([bytes.subarray(0, end)]), { what: 'cut.tar' })).toEqual(entries);
  });
});
