// Container diffs from an overlay upper directory (diffOverlayUpper) and commits of it
// (layerFromOverlayUpper): moby-go-archive CASES §2 (the overlay driver's layer-based changes,
// its example and GH13590), continuity's DiffDirChangeWithOverlayfs, moby's §4 overlay→OCI
// conversion, and, as root, a property over real kernel overlay mounts: for random lower trees
// and random changes made through the mount, the upper's changeset equals the changeset of the
// two whole trees (diffDirectories(lower, merged)), and the upper as a layer applied to the
// lower gives the merged tree.
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChanges, type Change } from '../../src/diff/change.js';
import { diffDirectories } from '../../src/diff/directories.js';
import { diffOverlayUpper } from '../../src/diff/overlay.js';
import { layerFromOverlayUpper, overlayUpperTar } from '../../src/diff/overlay-layer.js';
import { layerDirsLower } from '../../src/diff/overlay-lower.js';
import { layerXattrs, rawXattrs } from '../../src/diff/overlay-xattrs.js';
import { metaOfStats } from '../../src/diff/sides.js';
import { typeOfStats } from '../../src/layer/entry-meta.js';
import { applyLayer } from '../../src/layer/apply.js';
import { buildLayerIndex } from '../../src/layer/index-build.js';
import { mknod } from '../../src/sys/mknod.js';
import { setXattr } from '../../src/sys/xattr.js';
import { listTar } from '../../src/tar/index.js';
import { UnionView } from '../../src/union/view.js';
import { baseOps, copyTree, dirLayer, forgiveApplierMs, mutationOps, records, runOps, type Op } from './trees.js';
import { removeDir, tempDir } from '../support/images.js';

const run = promisify(execFile);
const lines = (changes: readonly Change[]): string[] => formatChanges(changes).trimEnd().split('\n').filter((l) => l !== '');
const asRoot = process.getuid?.() === 0;

let work: string;
beforeAll(async () => (work = await tempDir('cairn-diff-overlay-')));
afterAll(() => removeDir(work));

/** The union view of a directory taken as one layer (walked, packed, indexed: no store). */
async function viewOf(dir: string): Promise<UnionView> {
  const tar = await dirLayer(dir);
  const { index } = await buildLayerIndex(Readable.from([tar]), { what: 'lower' });
  return UnionView.fromLayers([{ index, content: { read: async (o, n) => tar.subarray(o, o + n), stream: (o, n) => Readable.from([tar.subarray(o, o + n)]) } }]);
}

async function files(root: string, spec: Readonly<Record<string, string | null>>): Promise<void> {
  for (const [rel, content] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    if (rel.endsWith('/')) await mkdir(abs, { recursive: true });
    else if (content === null) {
      await mkdir(path.dirname(abs), { recursive: true });
      mknod(abs, 'char', 0, 0, 0); // an overlay whiteout
    } else {
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, content);
    }
  }
}

describe.skipIf(!asRoot)('layer-based changes from an upper in overlay form (as root: whiteouts are 0:0 devices)', () => {
  it('moby CASES §2 example: lower = sample dir + dir1/subfolder; upper rewrites, whites out and adds in dir1', async () => {
    const lower = path.join(work, 'm2-lower');
    const upper = path.join(work, 'm2-upper');
    await files(lower, { 'file1': 'file1\n', 'dir1/file1-1': 'file1-1\n', 'dir1/file1-2': 'file1-2\n', 'dir1/subfolder/': '', 'dir2/file2-1': 'file2-1\n' });
    await files(upper, { 'dir1/': '', 'dir1/file1-2': null, 'dir1/file1-1': 'file1-1 rewritten\n', 'dir1/subfolder/newFile': 'new\n' });
    expect(lines(await diffOverlayUpper(upper, await viewOf(lower)))).toEqual([
      'C /dir1',
      'C /dir1/file1-1',
      'D /dir1/file1-2',
      'C /dir1/subfolder',
      'A /dir1/subfolder/newFile',
    ]);
  });

  it('moby GH13590: an upper made by cp -a (deletions without whiteouts are invisible; unchanged parents are not listed)', async () => {
    const lower = path.join(work, 'gh-lower');
    await files(lower, { 'dir1/dir2/dir3/file.txt': 'hello' });
    const view = await viewOf(lower);
    const added = path.join(work, 'gh-upper1');
    await copyTree(lower, added);
    await rm(path.join(added, 'dir1/dir2/dir3/file.txt'));
    await writeFile(path.join(added, 'dir1/dir2/dir3/file1.txt'), 'bye');
    expect(lines(await diffOverlayUpper(added, view))).toEqual(['C /dir1/dir2/dir3', 'A /dir1/dir2/dir3/file1.txt']);
    const rewritten = path.join(work, 'gh-upper2');
    await copyTree(lower, rewritten);
    await writeFile(path.join(rewritten, 'dir1/dir2/dir3/file.txt'), 'bye');
    expect(lines(await diffOverlayUpper(rewritten, view))).toEqual(['C /dir1/dir2/dir3/file.txt']);
  });

  it("continuity DiffDirChangeWithOverlayfs: whiteout device, changed files, opaque directory (its hidden children are D, not continuity's /dir3/.wh..opq)", async () => {
    const lower = path.join(work, 'co-lower');
    const upper = path.join(work, 'co-upper');
    await files(lower, { 'dir1/f': '1', 'dir1/d/f': '1', 'dir2/d/f': '1', 'dir3/f': '1' });
    await files(upper, { 'dir1/f': '2', 'dir1/d': null, 'dir2/d/f': '2', 'dir3/': '' });
    setXattr(path.join(upper, 'dir3'), 'trusted.overlay.opaque', Buffer.from('y'));
    // Same sizes: the rewrites must not share the lower files' millisecond (they would be "same").
    for (const f of ['dir1/f', 'dir2/d/f']) await utimes(path.join(upper, f), 1_700_000_000.5, 1_700_000_000.5);
    expect(lines(await diffOverlayUpper(upper, await viewOf(lower)))).toEqual([
      'C /dir1',
      'D /dir1/d',
      'C /dir1/f',
      'C /dir2',
      'C /dir2/d',
      'C /dir2/d/f',
      'C /dir3',
      'D /dir3/f',
    ]);
  });

  it('a whiteout of nothing lists nothing; an upper directory where the lower has a symlink is a type change', async () => {
    const lower = path.join(work, 'ty-lower');
    const upper = path.join(work, 'ty-upper');
    await files(lower, { 'real/x': 'x' });
    await run('ln', ['-s', 'real', path.join(lower, 'link')]);
    await files(upper, { 'ghost': null, 'link/y': 'y' });
    // Upper paths are literal: link/y is not real/y.
    expect(lines(await diffOverlayUpper(upper, await viewOf(lower)))).toEqual(['C /link', 'A /link/y']);
  });

  it("moby CASES §4: the upper as a layer: opaque dirs get their marker, the device becomes .wh.f1, no overlay xattr leaks", async () => {
    const upper = path.join(work, 'm4-upper');
    await files(upper, { 'd1/f1': 'a', 'd2/f1': 'b', 'd3/f1': null });
    setXattr(path.join(upper, 'd1'), 'trusted.overlay.opaque', Buffer.from('y'));
    setXattr(path.join(upper, 'd2'), 'trusted.overlay.opaque', Buffer.from('y'));
    const entries = await listTar(layerFromOverlayUpper(upper), { what: 'm4' });
    expect(entries.map((e) => (e.type === 'directory' ? `${e.path}/` : e.path))).toEqual([
      'd1/',
      'd1/.wh..wh..opq',
      'd1/f1',
      'd2/',
      'd2/.wh..wh..opq',
      'd2/f1',
      'd3/',
      'd3/.wh.f1',
    ]);
    expect(entries.every((e) => Object.keys(e.xattrs).length === 0 && e.type !== 'char')).toBe(true);
    // With the lower given, a whiteout of a path the lower lacks is left out.
    const lower = path.join(work, 'm4-lower');
    await files(lower, { 'd1/old': 'o' });
    const trimmed = await listTar(layerFromOverlayUpper(upper, { lower: await viewOf(lower) }), { what: 'm4' });
    expect(trimmed.map((e) => e.path)).not.toContain('d3/.wh.f1');
    // overlayUpperTar: the same bytes, in memory when small, streamed past its limit.
    const streamed = await buffer(layerFromOverlayUpper(upper, { lower: await viewOf(lower) }));
    const small = await overlayUpperTar(upper, 1 << 20, { lower: await viewOf(lower) });
    expect(small).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(small as Uint8Array).equals(streamed)).toBe(true);
    const big = await overlayUpperTar(upper, 0, { lower: await viewOf(lower) });
    expect(big).toBeInstanceOf(Readable);
    expect((await buffer(big as Readable)).equals(streamed)).toBe(true);
  });
});

describe.skipIf(!asRoot)('devices in an upper (as root)', () => {
  it('only a 0:0 character device is a whiteout: a container\'s own char device 1:3 stays a device in the layer', async () => {
    const upper = path.join(work, 'dev-upper');
    await files(upper, { 'gone': null });
    mknod(path.join(upper, 'null'), 'char', 0o666, 1, 3);
    const entries = await listTar(layerFromOverlayUpper(upper), { what: 'devices' });
    expect(entries.map((e) => [e.path, e.type, e.devmajor ?? 0, e.devminor ?? 0])).toEqual([
      ['.wh.gone', 'file', 0, 0],
      ['null', 'char', 1, 3],
    ]);
  });
});

// --- real overlay mounts --------------------------------------------------------------------------

async function canMountOverlay(): Promise<boolean> {
  if (!asRoot) return false;
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-overlay-probe-'));
  try {
    for (const d of ['l', 'u', 'w', 'm']) await mkdir(path.join(dir, d));
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`, `${dir}/m`]);
    await run('umount', [`${dir}/m`]);
    return true;
  } catch {
    return false;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const overlayOk = await canMountOverlay();
if (asRoot && !overlayOk) console.warn('skipping: cannot mount overlayfs here');

let m = 0;
async function throughOverlay(base: readonly Op[], changes: readonly Op[]): Promise<{ fromUpper: string[]; fromLayerDirs: string[]; fromTrees: string[] }> {
  const dir = path.join(work, `ov${m++}`);
  const [lower, upper, wd, merged, snapshot, applied] = ['lower', 'upper', 'work', 'merged', 'snapshot', 'applied'].map((d) => path.join(dir, d)) as [string, string, string, string, string, string];
  for (const d of [lower, upper, wd, merged]) await mkdir(d, { recursive: true });
  try {
    await runOps(lower, base);
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${wd}`, merged]);
    try {
      await runOps(merged, changes);
      await copyTree(merged, snapshot);
    } finally {
      await run('umount', [merged]);
    }
    const fromUpper = await diffOverlayUpper(upper, await viewOf(lower));
    const fromLayerDirs = await diffOverlayUpper(upper, await layerDirsLower([lower]));
    const fromTrees = await diffDirectories(lower, snapshot);
    // The upper as a layer, applied to the lower, is the merged tree.
    await copyTree(lower, applied);
    await applyLayer(applied, layerFromOverlayUpper(upper), { what: 'upper layer' });
    const want = await records(snapshot);
    expect(forgiveApplierMs(await records(applied), want)).toEqual(want);
    return { fromUpper: lines(fromUpper), fromLayerDirs: lines(fromLayerDirs), fromTrees: lines(fromTrees) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!overlayOk)('kernel overlay mounts (as root)', () => {
  it('random lowers and changes made through the mount: diffOverlayUpper (lower as a union view or as the layer directory) == diffDirectories(lower, merged); upper layer + lower == merged', async () => {
    let nonEmpty = 0;
    await fc.assert(
      fc.asyncProperty(baseOps, mutationOps, async (base, changes) => {
        const { fromUpper, fromLayerDirs, fromTrees } = await throughOverlay(base, changes);
        expect(fromUpper).toEqual(fromTrees);
        expect(fromLayerDirs).toEqual(fromTrees);
        if (fromUpper.length > 0) nonEmpty++;
      }),
      { numRuns: Number(process.env.CAIRN_DIFF_RUNS ?? 30) },
    );
    expect(nonEmpty).toBeGreaterThan(0);
  }, 300_000);

  it('a directory removed and made again through the mount is opaque in the upper: its old entries are D', async () => {
    const { fromUpper, fromTrees } = await throughOverlay(
      [
        { kind: 'file', path: 'a/x', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'file', path: 'a/y', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'file', path: 'a/b/z', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
      ],
      [{ kind: 'replace-dir', path: 'a', files: ['x', 'n'] }],
    );
    expect(fromUpper).toEqual(fromTrees);
    expect(fromUpper).toEqual(['C /a', 'D /a/b', 'A /a/n', 'C /a/x', 'D /a/y']);
  });

  it('layerDirsLower over stacked layer directories answers what the kernel mount of them shows', async () => {
    const dir = path.join(work, 'stack');
    const [bottom, middle, top, merged] = ['bottom', 'middle', 'top', 'merged'].map((d) => path.join(dir, d)) as [string, string, string, string];
    await files(bottom, { 'keep': 'k', 'gone': 'g', 'd/a': 'a', 'd/b': 'b', 'o/x': 'x', 'o/y': 'y', 't/in': 'i', 'f': 'f' });
    await files(middle, { 'd/c': 'c', 'o/': '', 'o/z': 'z', 'gone': null, 't': 'now a file', 'f/': '', 'f/g': 'g' });
    setXattr(path.join(middle, 'o'), 'trusted.overlay.opaque', Buffer.from('y'));
    await files(top, { 'd/b': null, 'keep': 'k2', 'o/w': 'w', 'n/': '' });
    await mkdir(merged);
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${top}:${middle}:${bottom}`, merged]);
    try {
      const lower = await layerDirsLower([top, middle, bottom]);
      const seen: string[] = [];
      const walk = async (rel: string): Promise<void> => {
        const names = (await readdir(rel === '' ? merged : path.join(merged, rel))).sort();
        expect((await lower.children(rel)).map((c) => c.name).sort()).toEqual(names);
        for (const name of names) {
          const child = rel === '' ? name : `${rel}/${name}`;
          const abs = path.join(merged, child);
          const st = await lstat(abs);
          const type = typeOfStats(st) ?? 'file';
          const want = metaOfStats(st, type, { ...(type === 'symlink' ? { linkname: await readlink(abs) } : {}), xattrs: layerXattrs(rawXattrs(abs)) });
          const { nlink: _n, ...got } = (await lower.entry(child)) ?? { nlink: 0 };
          const { nlink: _m, ...wanted } = want;
          expect(got).toEqual(wanted);
          seen.push(type === 'directory' ? `${child}/` : child);
          if (type === 'directory') await walk(child);
        }
      };
      await walk('');
      expect(seen).toEqual(['d/', 'd/a', 'd/c', 'f/', 'f/g', 'keep', 'n/', 'o/', 'o/w', 'o/z', 't']);
      for (const hidden of ['gone', 'd/b', 'o/x', 't/in', 'nothing', 'keep/x']) expect(await lower.entry(hidden)).toBeUndefined();
      expect(await new Response(Readable.toWeb(await lower.content('keep')) as ReadableStream).text()).toBe('k2');
    } finally {
      await run('umount', [merged]);
    }
  });
});
