// Directory diffs (diffDirectories) against the cases upstream encodes: moby-go-archive CASES §1
// (the mutated sample directory), continuity CASES §1 (SimpleDiff ... UpdateWithSameTime, with
// cairn's documented differences: parents of A/D are C, times compared at millisecond
// precision, moby's sameFsTime), and snapshot diffs of a directory against an image's layer
// indexes (diffDirectoryAgainstImage), end to end: unpack, change, diff, write the layer,
// append it to the image, and the image diff lists the same changes.
import { chmod, lchown, lutimes, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChanges, type Change } from '../../src/diff/change.js';
import { diffDirectories, diffDirectoryAgainstImage } from '../../src/diff/directories.js';
import { diffImages } from '../../src/diff/images.js';
import { writeChangesetLayer } from '../../src/diff/layer-writer.js';
import { appendLayer, draftOf, writeImage } from '../../src/image/draft.js';
import { resolveImage, manifestOf } from '../../src/image/resolve.js';
import { indexImage } from '../../src/layer/index-store.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { setXattr } from '../../src/sys/xattr.js';
import { copy } from '../../src/transport/open.js';
import { UnionView } from '../../src/union/view.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';
import { copyTree, onlyApplierMs } from './trees.js';
import { removeDir, tempDir } from '../support/images.js';

const lines = (changes: readonly Change[]): string[] => formatChanges(changes).trimEnd().split('\n').filter((l) => l !== '');
const asRoot = process.getuid?.() === 0;

let work: string;
beforeAll(async () => (work = await tempDir('cairn-diff-dirs-')));
afterAll(() => removeDir(work));

let n = 0;
const fresh = async (): Promise<string> => {
  const dir = path.join(work, `d${n++}`);
  await mkdir(dir);
  return dir;
};

type Spec = Readonly<Record<string, string | { dir: number } | { link: string } | { file: string; mode: number }>>;

/** Files (`content`), directories (`{dir: mode}`), symlinks (`{link}`), all at one time. */
async function make(root: string, spec: Spec, time = Date.now() / 1000): Promise<void> {
  for (const [rel, what] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    if (typeof what === 'string') await writeFile(abs, what);
    else if ('dir' in what) {
      await mkdir(abs, { recursive: true });
      await chmod(abs, what.dir);
    } else if ('link' in what) await symlink(what.link, abs);
    else {
      await writeFile(abs, what.file);
      await chmod(abs, what.mode);
    }
  }
  // Times last (directories were touched by their children).
  for (const rel of Object.keys(spec).reverse()) await lutimes(path.join(root, rel), time, time);
}

describe('moby-go-archive CASES §1: ChangesDirs on the mutated sample directory', () => {
  it('lists what moby lists, plus C /dir3 (a touched directory: the overlay driver sees directory times, moby\'s naive walk does not)', async () => {
    const base = await fresh();
    const root = base;
    await make(base, {
      file1: { file: 'file1\n', mode: 0o600 },
      file2: { file: 'file2\n', mode: 0o666 },
      file3: { file: 'file3\n', mode: 0o404 },
      file4: { file: 'file4\n', mode: 0o600 },
      file5: { file: 'file5\n', mode: 0o600 },
      file6: { file: 'file6\n', mode: 0o600 },
      file7: { file: 'file7\n', mode: 0o600 },
      dir1: { dir: 0o740 },
      'dir1/file1-1': { file: 'file1-1\n', mode: 0o1444 },
      'dir1/file1-2': { file: 'file1-2\n', mode: 0o666 },
      dir2: { dir: 0o700 },
      'dir2/file2-1': { file: 'file2-1\n', mode: 0o666 },
      'dir2/file2-2': { file: 'file2-2\n', mode: 0o777 },
      dir3: { dir: 0o700 },
      'dir3/file3-1': { file: 'file3-1\n', mode: 0o666 },
      'dir3/file3-2': { file: 'file3-2\n', mode: 0o777 },
      dir4: { dir: 0o700 },
      'dir4/file3-1': { file: 'file4-1\n', mode: 0o666 },
      'dir4/file3-2': { file: 'file4-2\n', mode: 0o777 },
      symlink1: { link: 'target1' },
      symlink2: { link: 'target2' },
      symlink3: { link: `${root}/file1` },
      symlink4: { link: `${root}/symlink3` },
      dirSymlink: { link: `${root}/dir1` },
    });
    const copyDir = path.join(work, 'sample-copy');
    await copyTree(base, copyDir);
    expect(await diffDirectories(base, copyDir)).toEqual([]);
    const dst = path.join(work, 'sample-mutated');
    await copyTree(base, dst);
    const at = (rel: string): string => path.join(dst, rel);
    await rm(at('file1'));
    await rm(at('dir1'), { recursive: true });
    await rm(at('symlink1'));
    await writeFile(at('file2'), 'fileNN\n');
    await rm(at('file3'));
    await writeFile(at('file3'), 'fileMM\n', { mode: 0o404 });
    const t4 = Date.now() / 1000 + 1;
    await utimes(at('file4'), t4, t4);
    await rm(at('file5'));
    await mkdir(at('file5'), { mode: 0o666 });
    await writeFile(at('filenew'), 'filenew\n', { mode: 0o777 });
    await mkdir(at('dirnew'), { mode: 0o766 });
    await symlink('targetnew', at('symlinknew'));
    await rm(at('symlink2'));
    await symlink('target2change', at('symlink2'));
    await rm(at('dir2'), { recursive: true });
    await writeFile(at('dir2'), 'dir2\n', { mode: 0o777 });
    await utimes(at('dir3'), t4, t4);
    const changes = await diffDirectories(base, dst);
    expect(lines(changes)).toEqual([
      'D /dir1',
      'C /dir2',
      'C /dir3',
      'A /dirnew',
      'D /file1',
      'C /file2',
      'C /file3',
      'C /file4',
      'C /file5',
      'A /filenew',
      'D /symlink1',
      'C /symlink2',
      'A /symlinknew',
    ]);
    // Kinds carry their sides: a type change says both.
    const dir2 = changes.find((c) => c.path === '/dir2');
    expect([dir2?.before?.type, dir2?.after?.type]).toEqual(['directory', 'file']);
    // moby: "ExportChanges then ApplyLayer on old must make old identical to new".
    const { applyLayer } = await import('../../src/layer/apply.js');
    const applied = path.join(work, 'sample-applied');
    await copyTree(base, applied);
    await applyLayer(applied, writeChangesetLayer(changes, { sourceDir: dst }), { what: 'sample layer' });
    expect((await diffDirectories(dst, applied)).filter((c) => !onlyApplierMs(c))).toEqual([]);
  });
});

describe('continuity CASES §1 (fs.Changes), with cairn\'s parent rule', () => {
  const T = 1_700_000_000; // whole seconds

  async function pair(base: Spec, change: (dir: string) => Promise<void>): Promise<string[]> {
    const a = await fresh();
    await make(a, base, T);
    const b = path.join(work, `d${n++}`);
    await copyTree(a, b);
    await change(b);
    return lines(await diffDirectories(a, b));
  }

  it('SimpleDiff: continuity lists M /etc/hosts, M /etc/profile, D /etc/unexpected, A /root, A /root/.bashrc; cairn adds C /etc (a deletion inside it)', async () => {
    const got = await pair(
      { etc: { dir: 0o755 }, 'etc/hosts': 'mydomain 10.0.0.1', 'etc/profile': { file: 'PATH=/usr/bin', mode: 0o644 }, 'etc/unchanged': 'x', 'etc/unexpected': 'y' },
      async (b) => {
        await writeFile(path.join(b, 'etc/hosts'), 'mydomain 10.0.0.120');
        await chmod(path.join(b, 'etc/profile'), 0o666);
        await mkdir(path.join(b, 'root'), { mode: 0o700 });
        await writeFile(path.join(b, 'root/.bashrc'), 'PATH=/usr/sbin:/usr/bin');
        await rm(path.join(b, 'etc/unexpected'));
      },
    );
    expect(got).toEqual(['C /etc', 'C /etc/hosts', 'C /etc/profile', 'D /etc/unexpected', 'A /root', 'A /root/.bashrc']);
  });

  it('EmptyFileDiff, NestedDeletion, RemoveDirectoryTree(WithDash)', async () => {
    expect(await pair({ 'etc/empty': '' }, async () => undefined)).toEqual([]);
    expect(await pair({ 'd0/x': 'x', 'd1/d2/f1': 'f' }, async (b) => {
      await rm(path.join(b, 'd0'), { recursive: true });
      await rm(path.join(b, 'd1'), { recursive: true });
    })).toEqual(['D /d0', 'D /d1']);
    expect(await pair({ 'dir1/dir2/dir3/x': 'x', 'dir1/f1': 'f', 'dir1/dir2/f2': 'f', 'dir1-before/f2': 'f' }, async (b) => {
      await rm(path.join(b, 'dir1'), { recursive: true });
    })).toEqual(['D /dir1']);
  });

  it('DirectoryReplace and FileReplace: a type change is C of that path alone; a new directory lists its contents', async () => {
    expect(await pair({ 'dir1/f1': 'f1', 'dir1/f2/f3': 'f3' }, async (b) => {
      await writeFile(path.join(b, 'dir1/f11'), 'f11');
      await rm(path.join(b, 'dir1/f2'), { recursive: true });
      await writeFile(path.join(b, 'dir1/f2'), 'now a file');
    })).toEqual(['C /dir1', 'A /dir1/f11', 'C /dir1/f2']); // continuity: no C /dir1
    expect(await pair({ dir1: 'a file' }, async (b) => {
      await rm(path.join(b, 'dir1'));
      await mkdir(path.join(b, 'dir1/dir2'), { recursive: true });
      await writeFile(path.join(b, 'dir1/dir2/f1'), 'f1');
    })).toEqual(['C /dir1', 'A /dir1/dir2', 'A /dir1/dir2/f1']);
  });

  it('ParentDirectoryPermission: continuity lists only the A paths; cairn also the parents they were added to', async () => {
    expect(await pair({ dir1: { dir: 0o700 }, dir2: { dir: 0o751 }, dir3: { dir: 0o777 } }, async (b) => {
      await mkdir(path.join(b, 'dir1/d'), { mode: 0o700 });
      await writeFile(path.join(b, 'dir1/d/f'), 'f');
      await writeFile(path.join(b, 'dir1/f'), 'f');
      await writeFile(path.join(b, 'dir2/f'), 'f');
      await writeFile(path.join(b, 'dir3/f'), 'f');
    })).toEqual(['C /dir1', 'A /dir1/d', 'A /dir1/d/f', 'A /dir1/f', 'C /dir2', 'A /dir2/f', 'C /dir3', 'A /dir3/f']);
  });

  it('UpdateWithSameTime at millisecond precision: contents are read only when a time may have lost its fraction', async () => {
    const t = T; // whole seconds
    const t1 = T + 0.005;
    const t2 = T + 0.006;
    const a = await fresh();
    const files: Record<string, [string, number]> = {
      'file-modified-time': ['1', t1],
      'file-no-change': ['1', t1],
      'file-same-time': ['1', t1],
      'truncated-time-1': ['1', t],
      'truncated-time-2': ['1', t],
      'truncated-time-3': ['1', t1],
    };
    for (const [name, [content, time]] of Object.entries(files)) {
      await writeFile(path.join(a, name), content);
      await utimes(path.join(a, name), time, time);
    }
    const b = path.join(work, `d${n++}`);
    await copyTree(a, b);
    const set = async (name: string, content: string, time: number): Promise<void> => {
      await writeFile(path.join(b, name), content);
      await utimes(path.join(b, name), time, time);
    };
    await set('file-modified-time', '2', t2);
    await set('file-same-time', '2', t1); // same size, same non-zero fraction: not seen (as continuity)
    await set('truncated-time-1', '1', t1); // continuity: M (the nanoseconds differ); cairn: same content, same second → not a change (moby's sameFsTime)
    await set('truncated-time-2', '2', t); // whole seconds on both sides: contents compared → C
    await set('truncated-time-3', '1', t); // continuity: M; cairn: as truncated-time-1
    expect(lines(await diffDirectories(a, b))).toEqual(['C /file-modified-time', 'C /truncated-time-2']);
  });

  it('Lchtimes: symlinks copied with their own times are unchanged; BaseDirectoryChanges: against an empty directory everything is A', async () => {
    expect(await pair({ foo: 'foo', lnk0: { link: '/foo' } }, async () => undefined)).toEqual([]);
    const empty = await fresh();
    const full = await fresh();
    await make(full, { 'etc/hosts': 'h', 'etc/profile': 'p', 'root/.bashrc': 'b' });
    expect(lines(await diffDirectories(empty, full))).toEqual(['A /etc', 'A /etc/hosts', 'A /etc/profile', 'A /root', 'A /root/.bashrc']);
  });
});

describe.skipIf(!asRoot)('metadata cairn compares beyond moby (as root)', () => {
  it('owner, xattrs (all, not only security.capability), setuid bits, fifo ↔ file; sockets are ignored', async () => {
    const a = await fresh();
    await make(a, { owned: 'x', tagged: 'x', suid: { file: 'x', mode: 0o755 } }, 1_700_000_000);
    const b = path.join(work, `d${n++}`);
    await copyTree(a, b);
    await lchown(path.join(b, 'owned'), 1000, 1000);
    setXattr(path.join(b, 'tagged'), 'user.cairn', Buffer.from('1'));
    await chmod(path.join(b, 'suid'), 0o4755);
    const changes = await diffDirectories(a, b);
    expect(lines(changes)).toEqual(['C /owned', 'C /suid', 'C /tagged']);
    expect(Buffer.from(changes[2]?.after?.xattrs?.['user.cairn'] ?? []).toString()).toBe('1');
    // Without xattrs, the xattr change is not seen.
    expect(lines(await diffDirectories(a, b, { xattrs: false }))).toEqual(['C /owned', 'C /suid']);
  });
});

const IMAGE = 'busybox/oci-umoci:3';

describe.skipIf(!asRoot || skipWithoutFixtures(IMAGE))('snapshot diff: a directory against the image it was unpacked from', () => {
  it('nothing changed → no changes; after changes, the same lines as the directory diff; committed as a layer, the image diff lists them too', async () => {
    const store = await Store.open(path.join(work, 'store'));
    const img = fixture(IMAGE);
    await copy(`oci:${img.path}:${img.ref}`, 'snap:3', { store });
    const image = await resolveImage(store, 'snap:3');
    const rootfs = path.join(work, 'rootfs');
    await unpack(store, 'snap:3', rootfs);
    const indexes = (await indexImage(store, image)).map((l) => l.index);
    expect(await diffDirectoryAgainstImage(rootfs, indexes)).toEqual([]);
    const pristine = path.join(work, 'rootfs-pristine');
    await copyTree(rootfs, pristine);
    // A container's worth of changes.
    const at = (rel: string): string => path.join(rootfs, rel);
    await writeFile(at('etc/motd'), 'changed\n');
    await rm(at('bin/wc'));
    await mkdir(at('newdir/sub'), { recursive: true });
    await writeFile(at('newdir/sub/file'), 'new\n');
    await chmod(at('tmp'), 0o700);
    await rm(at('data/a')); // data/b was its hardlink: it stays
    await symlink('/etc/motd', at('root/motd'));
    await lchown(at('etc/passwd'), 1000, 1000);
    const changes = await diffDirectoryAgainstImage(rootfs, indexes);
    const expected = [
      'C /bin',
      'D /bin/wc',
      'C /data',
      'D /data/a',
      'C /etc/motd', // rewritten in place: /etc itself is unchanged
      'C /etc/passwd',
      'C /newdir', // umoci:2 made it
      'A /newdir/sub',
      'A /newdir/sub/file',
      'C /root',
      'A /root/motd',
      'C /tmp',
    ];
    expect(lines(changes)).toEqual(expected);
    expect(lines(await diffDirectories(pristine, rootfs))).toEqual(expected);
    // A union view of the image is as good as its indexes.
    expect(lines(await diffDirectoryAgainstImage(rootfs, await UnionView.open(store, image)))).toEqual(expected);
    // Commit: the changeset as a layer on the image; the image diff says the same.
    const descriptor = await store.ingest(async () => {
      const draft = await appendLayer(store, await draftOf(store, image), writeChangesetLayer(changes, { sourceDir: rootfs }), { history: { created_by: 'test commit' } });
      const written = await writeImage(store, draft, { created: new Date(0) });
      await store.setTag('snap:committed', written);
      return written;
    });
    expect(lines(await diffImages(store, image, await manifestOf(store, descriptor)))).toEqual(expected);
  });
});
