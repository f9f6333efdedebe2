// applyLayer's rules one by one (spec-notes/layer-apply.md): replacing and merging, last entry
// wins, owners and modes (setuid/setgid/sticky, setgid parents, any umask), xattrs and their
// warnings, hardlinks, devices and fifos (root and rootless), mtimes, symlinked parents from
// lower layers, whiteouts of this layer vs lower ones, and the errors for broken layers.
import { lstat, mkdir, readdir, readFile, readlink, symlink as fsSymlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { applyLayer, type ApplyOptions } from '../../src/layer/apply.js';
import { getXattr } from '../../src/sys/xattr.js';
import type { TarEntry } from '../../src/tar/index.js';
import { device, dir, fifo, file, hostileTar, link, symlink, type HostileEntry } from '../support/hostile-tar.js';
import { removeDir, tempDir } from '../support/images.js';
import { listTree } from './tree-manifest.js';

const asRoot = process.getuid?.() === 0;
let base: string;
let root: string;

beforeEach(async () => {
  base = await tempDir('cairn-apply-');
  root = path.join(base, 'root');
  await mkdir(root);
});

afterEach(async () => {
  await removeDir(base);
});

const R = (...p: string[]): string => path.join(root, ...p);
const mode = async (p: string): Promise<number> => (await lstat(R(p))).mode & 0o7777;
const mtime = async (p: string): Promise<number> => (await lstat(R(p))).mtimeMs;

function apply(entries: HostileEntry[], options: Partial<ApplyOptions> = {}): ReturnType<typeof applyLayer> {
  return applyLayer(root, Readable.from([hostileTar(entries)]), { what: 'test layer', ...options });
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('replacing, merging, duplicates', () => {
  it('a file over a directory removes the directory; a directory over a file removes the file', async () => {
    await apply([dir('a'), file('a/inner', 'x'), file('b', 'file')]);
    await apply([file('a', 'now a file'), dir('b', 0o700), file('b/c', 'c')]);
    expect(await readFile(R('a'), 'utf8')).toBe('now a file');
    expect(await listTree(root)).toEqual(['a', 'b/', 'b/c']);
    expect(await mode('b')).toBe(0o700);
  });

  it('a directory over a directory merges: children stay, the entry metadata wins, xattrs are replaced', async () => {
    await apply([dir('d', 0o755, { xattrs: { 'user.old': Buffer.from('1'), 'user.kept': Buffer.from('a') } }), file('d/lower', 'l')]);
    await apply([dir('d', 0o710, { uid: asRoot ? 7 : undefined, mtime: 1_500_000_000, xattrs: { 'user.kept': Buffer.from('b') } })]);
    expect(await listTree(root)).toEqual(['d/', 'd/lower']);
    expect(await mode('d')).toBe(0o710);
    expect(await mtime('d')).toBe(1_500_000_000_000);
    expect(getXattr(R('d'), 'user.old')).toBeUndefined();
    expect(getXattr(R('d'), 'user.kept')?.toString()).toBe('b');
    if (asRoot) expect((await lstat(R('d'))).uid).toBe(7);
  });

  it('duplicate paths in one layer: the last entry wins, whatever the types', async () => {
    await apply([file('x', 'one'), file('x', 'two'), dir('y'), file('y/z', 'z'), symlink('y', 'x'), dir('w'), file('w', 'w')]);
    expect(await readFile(R('x'), 'utf8')).toBe('two');
    expect(await readlink(R('y'))).toBe('x');
    expect(await readFile(R('w'), 'utf8')).toBe('w');
    expect(await listTree(root)).toEqual(['w', 'x', 'y']);
  });

  it('missing parents are created 0755; the ./ entry applies to the root itself', async () => {
    await apply([dir('./', 0o750, { mtime: 1_400_000_000 }), file('deep/er/file', 'f')]);
    expect(await mode('deep')).toBe(0o755);
    expect(await mode('deep/er')).toBe(0o755);
    expect((await lstat(root)).mode & 0o7777).toBe(0o750);
    expect((await lstat(root)).mtimeMs).toBe(1_400_000_000_000);
  });

  it('a layer entry under a lower-layer symlink resolves through it (bin -> usr/bin)', async () => {
    await apply([dir('usr'), dir('usr/bin'), symlink('bin', 'usr/bin')]);
    await apply([dir('bin/'), file('bin/foo', 'foo')]);
    // containerd/umoci: a directory entry replaces the symlink only when the tar names it ...
    expect((await lstat(R('bin'))).isDirectory()).toBe(true);
    await apply([dir('usr'), dir('usr/bin'), symlink('lib', 'usr/lib'), dir('usr/lib')]);
    await apply([file('lib/libc.so', 'c')]);
    // ... and without a directory entry the file lands in the link's target.
    expect((await lstat(R('lib'))).isSymbolicLink()).toBe(true);
    expect(await readFile(R('usr/lib/libc.so'), 'utf8')).toBe('c');
  });

  it('big files are streamed (more than the buffered size)', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const result = await apply([file('big', big)]);
    expect((await readFile(R('big'))).equals(big)).toBe(true);
    expect(result.bytes).toBe(big.length);
  });

  it('reports every entry to onEntry and counts them', async () => {
    const seen: string[] = [];
    const result = await apply([dir('a'), file('a/b', 'b'), file('.wh.c', '')], { onEntry: (e: TarEntry) => seen.push(e.path) });
    expect(seen).toEqual(['a', 'a/b', '.wh.c']);
    expect(result.entries).toBe(3);
  });
});

describe('modes and owners', () => {
  it('keeps setuid, setgid and sticky bits and exact modes whatever the umask', async () => {
    let old: number | undefined;
    try {
      old = process.umask(0o077);
    } catch {
      // umask cannot be changed in worker threads: the default umask is still exercised
    }
    try {
      await apply([
        dir('tmp', 0o1777),
        file('su', 'su', 0o4755),
        file('wall', 'wall', 0o2755, { gid: asRoot ? 5 : undefined }),
        file('plain', 'p', 0o644),
        dir('open', 0o777),
        file('ro', 'r', 0o444),
      ]);
    } finally {
      if (old !== undefined) process.umask(old);
    }
    expect(await mode('tmp')).toBe(0o1777);
    expect(await mode('su')).toBe(0o4755);
    expect(await mode('wall')).toBe(0o2755);
    expect(await mode('plain')).toBe(0o644);
    expect(await mode('open')).toBe(0o777);
    expect(await mode('ro')).toBe(0o444);
  });

  it.skipIf(!asRoot)('sets owners as root (setuid survives the chown), also under a setgid directory', async () => {
    await apply([
      dir('shared', 0o2775, { gid: 50 }),
      file('shared/mine', 'm', 0o4750, { uid: 1000, gid: 1000 }),
      file('shared/root', 'r', 0o644),
      dir('shared/sub', 0o755),
      symlink('shared/link', 'mine', { uid: 33, gid: 33 }),
    ]);
    const st = await lstat(R('shared/mine'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o4750]);
    const r = await lstat(R('shared/root'));
    expect([r.uid, r.gid]).toEqual([0, 0]); // not the setgid directory's group 50
    expect(await mode('shared/sub')).toBe(0o755); // the inherited setgid bit is not kept
    expect((await lstat(R('shared/sub'))).gid).toBe(0);
    const l = await lstat(R('shared/link'));
    expect([l.uid, l.gid]).toEqual([33, 33]);
  });

  it('rootless: owners are left alone and devices skipped with a warning; fifos are made', async () => {
    const warnings: string[] = [];
    const result = await apply([file('f', 'f', 0o644, { uid: 1234, gid: 1234 }), device('null', 'char', 1, 3), fifo('pipe', 0o600)], {
      rootless: true,
      onWarning: (w) => warnings.push(`${w.path}: ${w.message}`),
    });
    expect((await lstat(R('f'))).uid).toBe(process.getuid?.());
    expect(await listTree(root)).toEqual(['f', 'pipe']);
    expect((await lstat(R('pipe'))).isFIFO()).toBe(true);
    expect(warnings).toEqual(['null: char device 1:3 skipped (not root)']);
    expect(result.warnings).toHaveLength(1);
  });

  it.skipIf(!asRoot)('makes device nodes as root', async () => {
    await apply([device('dev/null', 'char', 1, 3, 0o666), device('dev/sda', 'block', 8, 1, 0o660)]);
    const n = await lstat(R('dev/null'));
    expect(n.isCharacterDevice()).toBe(true);
    expect([Math.floor(n.rdev / 256), n.rdev % 256, n.mode & 0o7777]).toEqual([1, 3, 0o666]);
    const b = await lstat(R('dev/sda'));
    expect(b.isBlockDevice()).toBe(true);
    expect(b.rdev).toBe(8 * 256 + 1);
  });
});

describe('xattrs', () => {
  it('sets user.* xattrs on files and directories; warns for what cannot be set', async () => {
    const warnings: string[] = [];
    await apply(
      [
        dir('d', 0o755, { xattrs: { 'user.d': Buffer.from('dir') } }),
        file('d/f', 'f', 0o644, { xattrs: { 'user.f': Buffer.from([0, 255]), 'security.selinux': Buffer.from('system_u:object_r:x') } }),
      ],
      { onWarning: (w) => warnings.push(`${w.path}: ${w.message}`) },
    );
    expect(getXattr(R('d'), 'user.d')?.toString()).toBe('dir');
    expect([...(getXattr(R('d/f'), 'user.f') ?? [])]).toEqual([0, 255]);
    expect(getXattr(R('d/f'), 'security.selinux')).toBeUndefined();
    expect(warnings).toEqual(['d/f: xattr security.selinux is host-specific and was not applied']);
  });

  it.skipIf(!asRoot)('sets trusted.* and security.capability as root', async () => {
    const cap = Buffer.from([0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await apply([file('ping', 'p', 0o755, { xattrs: { 'security.capability': cap, 'trusted.x': Buffer.from('t') } })]);
    expect(getXattr(R('ping'), 'security.capability')?.equals(cap)).toBe(true);
    expect(getXattr(R('ping'), 'trusted.x')?.toString()).toBe('t');
  });
});

describe('hardlinks', () => {
  it('links to a file of the same layer or a lower one', async () => {
    await apply([file('lower', 'l')]);
    await apply([file('a', 'a'), link('b', 'a'), link('c', 'lower')]);
    expect((await lstat(R('b'))).ino).toBe((await lstat(R('a'))).ino);
    expect((await lstat(R('c'))).ino).toBe((await lstat(R('lower'))).ino);
  });

  it('a missing target or a directory target is an invalid archive naming the entry', async () => {
    const missing = await failure(apply([link('x', 'nope')]));
    expect(isCairnError(missing, 'invalid-archive')).toBe(true);
    expect((missing as Error).message).toMatch(/test layer: entry "x": hardlink target "nope" does not exist/);
    const toDir = await failure(apply([dir('d'), link('y', 'd')]));
    expect(isCairnError(toDir, 'invalid-archive')).toBe(true);
    const toRoot = await failure(apply([link('z', '../..')]));
    expect(isCairnError(toRoot, 'invalid-archive')).toBe(true);
  });
});

describe('mtimes', () => {
  it('files and symlinks get theirs at once; directories after their children', async () => {
    await apply([
      dir('d', 0o755, { mtime: 1_000_000_000 }),
      file('d/f', 'f', 0o644, { mtime: 1_100_000_000 }),
      symlink('d/l', 'f', { mtime: 1_200_000_000 }),
      dir('d/sub', 0o755, { mtime: 1_300_000_000 }),
      file('d/sub/g', 'g', 0o644, { mtime: 1_400_000_000 }),
    ]);
    expect(await mtime('d')).toBe(1_000_000_000_000);
    expect(await mtime('d/f')).toBe(1_100_000_000_000);
    expect(await mtime('d/l')).toBe(1_200_000_000_000);
    expect(await mtime('d/sub')).toBe(1_300_000_000_000);
  });

  it('a lower directory whose contents a layer changes keeps its time (as after umoci)', async () => {
    await apply([dir('d', 0o755, { mtime: 1_000_000_000 }), file('d/old', 'o'), file('d/gone', 'g')]);
    await apply([file('d/new', 'n'), file('d/.wh.gone', '')]);
    expect(await listTree(root)).toEqual(['d/', 'd/new', 'd/old']);
    expect(await mtime('d')).toBe(1_000_000_000_000);
  });
});

describe('whiteouts', () => {
  it('a whiteout never removes what its own layer wrote, before or after it', async () => {
    await apply([dir('d'), file('d/lower', 'l'), dir('e'), file('e/lower', 'l')]);
    await apply([file('d/.wh.lower', ''), file('d/lower', 'new'), file('e/lower', 'new'), file('e/.wh.lower', '')]);
    expect(await readFile(R('d/lower'), 'utf8')).toBe('new');
    expect(await readFile(R('e/lower'), 'utf8')).toBe('new');
  });

  it('a directory whiteout keeps the children this layer wrote and removes the rest', async () => {
    await apply([dir('d'), file('d/a', 'a'), file('d/b', 'b')]);
    await apply([file('d/b', 'new b'), file('.wh.d', '')]);
    expect(await listTree(root)).toEqual(['d/', 'd/b']);
  });

  it('whiteouts of missing paths do nothing and create no parents; AUFS meta names are no-ops', async () => {
    await apply([file('keep', 'k')]);
    await apply([file('no/such/.wh.thing', ''), file('.wh.nothing', ''), file('.wh..wh.plnk', ''), file('.wh..wh..opq', '')]);
    expect(await listTree(root)).toEqual([]); // the root's opaque marker removed `keep`
    await apply([file('keep', 'k')]);
    await apply([file('.wh..wh.aufs', '')]);
    expect(await listTree(root)).toEqual(['keep']);
  });

  it('invalid whiteout names fail with the layer and the entry in the error', async () => {
    for (const name of ['.wh.', 'a/.wh..', 'a/.wh...']) {
      const err = await failure(apply([dir('a'), file(name, '')], { what: 'layer sha256:abc' }));
      expect(isCairnError(err, 'invalid-archive'), name).toBe(true);
      expect((err as { data: unknown }).data).toMatchObject({ what: 'layer sha256:abc' });
      expect((err as Error).message).toContain('layer sha256:abc');
    }
  });
});

describe('broken layers', () => {
  it('a symlink loop in a parent path is an invalid archive ("too many links")', async () => {
    const err = await failure(apply([symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'x')]));
    expect(isCairnError(err, 'invalid-archive')).toBe(true);
    expect((err as Error).message).toContain('too many links');
  });

  it('a parent that is a file is an invalid archive', async () => {
    const err = await failure(apply([file('f', 'f'), file('f/x', 'x')]));
    expect(isCairnError(err, 'invalid-archive')).toBe(true);
    expect((err as Error).message).toContain('is not a directory');
  });

  it('applying to something that is not a directory fails clearly', async () => {
    await writeFile(path.join(base, 'plain'), '');
    const err = await failure(applyLayer(path.join(base, 'plain'), Readable.from([hostileTar([])]), { what: 'l' }));
    expect(isCairnError(err, 'not-found')).toBe(true);
  });

  it('a truncated tar fails and leaves no open handles behind', async () => {
    const tar = hostileTar([file('a', Buffer.alloc(300_000, 1)), file('b', 'b')]);
    const err = await failure(applyLayer(root, Readable.from([tar.subarray(0, 100_000)]), { what: 'cut' }));
    expect(isCairnError(err, 'invalid-archive')).toBe(true);
  });

  it('symlinks in the root before the layer are resolved, never escaped', async () => {
    await fsSymlink('/', R('host'));
    await apply([file('host/etc/cairn-test-escape', 'x')]);
    expect(await readdir(R('etc'))).toEqual(['cairn-test-escape']);
  });
});

describe('many small files (made on the file worker)', () => {
  it('keeps contents, modes, owners and mtimes, and links to them', async () => {
    const entries: HostileEntry[] = [dir('many', 0o755)];
    for (let i = 0; i < 300; i++) {
      entries.push(file(`many/f${i}`, `content ${i}\n`, i % 3 === 0 ? 0o600 : 0o4755, { mtime: 1_500_000_000 + i, uid: asRoot ? i % 5 : undefined }));
    }
    entries.push(file('many/f7', 'replaced'), link('many/link', 'many/f299'), file('many/../..', 'resolves to the root: ignored'));
    await apply(entries);
    expect(await readdir(R('many'))).toHaveLength(301);
    expect(await readFile(R('many/f7'), 'utf8')).toBe('replaced');
    expect(await readFile(R('many/f123'), 'utf8')).toBe('content 123\n');
    expect(await mode('many/f123')).toBe(0o600);
    expect(await mode('many/f124')).toBe(0o4755);
    expect(await mtime('many/f200')).toBe(1_500_000_200_000);
    if (asRoot) expect((await lstat(R('many/f201'))).uid).toBe(1);
    expect((await lstat(R('many/link'))).ino).toBe((await lstat(R('many/f299'))).ino);
  });

  it('once directories and links are made on the worker too, later entries see them', async () => {
    const entries: HostileEntry[] = [dir('pad')];
    for (let i = 0; i < 70; i++) entries.push(file(`pad/${i}`, `${i}`));
    entries.push(
      dir('d', 0o750, { mtime: 1_400_000_000 }),
      file('d/f', 'first'),
      symlink('s', 'd', { mtime: 1_300_000_000 }),
      file('s/g', 'through the new link'),
      file('d/f', 'second'),
      file('x', 'a file'),
      dir('x', 0o700),
      file('x/y', 'y'),
      symlink('abs', '/d'),
      file('abs/h', 'through an absolute link'),
      link('d/hard', 'd/g'),
      dir('d/sub', 0o711, { mtime: 1_200_000_000 }),
      file('d/sub/k', 'k'),
      file('implied/parent/file', 'p'),
    );
    await apply(entries);
    expect(await readFile(R('d/g'), 'utf8')).toBe('through the new link');
    expect(await readFile(R('d/h'), 'utf8')).toBe('through an absolute link');
    expect(await readFile(R('d/f'), 'utf8')).toBe('second');
    expect(await readlink(R('s'))).toBe('d');
    expect((await lstat(R('s'))).mtimeMs).toBe(1_300_000_000_000);
    expect(await listTree(R('x'))).toEqual(['y']);
    expect(await mode('x')).toBe(0o700);
    expect((await lstat(R('d/hard'))).ino).toBe((await lstat(R('d/g'))).ino);
    expect(await mode('d')).toBe(0o750);
    expect(await mtime('d')).toBe(1_400_000_000_000);
    expect(await mode('d/sub')).toBe(0o711);
    expect(await mtime('d/sub')).toBe(1_200_000_000_000);
    expect(await readFile(R('implied/parent/file'), 'utf8')).toBe('p');
    expect(await mode('implied/parent')).toBe(0o755);
  });

  it('a failure on the worker fails the layer with the entry and the errno', async () => {
    const entries: HostileEntry[] = [];
    for (let i = 0; i < 100; i++) entries.push(file(`f${i}`, 'x'));
    entries.push(file('x'.repeat(300), 'too long a name'));
    for (let i = 100; i < 200; i++) entries.push(file(`f${i}`, 'x'));
    const err = await failure(apply(entries));
    expect((err as NodeJS.ErrnoException).code).toBe('ENAMETOOLONG');
    expect((err as Error).message).toContain(`test layer: entry "${'x'.repeat(300)}"`);
  });
});
