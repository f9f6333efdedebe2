// writeChangesetLayer's own rules (src/diff/layer-writer.ts): the entries it writes for each
// kind of change, the SOURCE_DATE_EPOCH clamp, opaque markers only for wholesale replacements,
// hardlinks kept inside the layer, and a clear error when the tree changed since the diff.
import { link, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDirectories } from '../../src/diff/directories.js';
import { writeChangesetLayer } from '../../src/diff/layer-writer.js';
import { isCairnError } from '../../src/errors.js';
import { listTar, type TarEntry } from '../../src/tar/index.js';
import { copyTree } from './trees.js';
import { removeDir, tempDir } from '../support/images.js';

let work: string;
beforeAll(async () => (work = await tempDir('cairn-diff-writer-')));
afterAll(() => removeDir(work));

let n = 0;
/** A base tree, and a copy changed by `change`. */
async function pair(files: Readonly<Record<string, string>>, change: (at: (p: string) => string) => Promise<void>): Promise<{ base: string; target: string }> {
  const base = path.join(work, `b${n}`);
  const target = path.join(work, `t${n++}`);
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(base, rel)), { recursive: true });
    await writeFile(path.join(base, rel), content);
  }
  await copyTree(base, target);
  await change((p) => path.join(target, p));
  return { base, target };
}

const show = (entries: readonly TarEntry[]): string[] =>
  entries.map((e) => `${e.type === 'directory' ? `${e.path}/` : e.path}${e.type === 'hardlink' ? ` => ${e.linkname}` : ''}`);

async function layer(base: string, target: string, options: { clampMtime?: Date; opaque?: 'auto' | 'never' } = {}): Promise<TarEntry[]> {
  return listTar(writeChangesetLayer(await diffDirectories(base, target), { sourceDir: target, ...options }), { what: 'test layer' });
}

describe('writeChangesetLayer', () => {
  it('A and C entries from the new tree, D as .wh., in tar order (a directory before its contents)', async () => {
    const { base, target } = await pair({ 'd/x': 'x', 'd/y': 'y', 'e/z': 'z' }, async (at) => {
      await writeFile(at('d/x'), 'xx');
      await rm(at('d/y'));
      await mkdir(at('d/new'));
      await writeFile(at('d/new/f'), 'f');
      await rm(at('e'), { recursive: true });
    });
    // Whiteouts sort by their own names (`.wh.e` before `d/`).
    expect(show(await layer(base, target))).toEqual(['.wh.e', 'd/', 'd/.wh.y', 'd/new/', 'd/new/f', 'd/x']);
  });

  it('opaque marker only for a wholesale replacement (two or more deletions, nothing old left unsent)', async () => {
    const files = { 'd/a': 'a', 'd/b': 'b', 'd/c': 'c' };
    const whole = await pair(files, async (at) => {
      await rm(at('d'), { recursive: true });
      await mkdir(at('d'));
      await writeFile(at('d/a'), 'new a');
    });
    expect(show(await layer(whole.base, whole.target))).toEqual(['d/', 'd/.wh..wh..opq', 'd/a']);
    expect(show(await layer(whole.base, whole.target, { opaque: 'never' }))).toEqual(['d/', 'd/.wh.b', 'd/.wh.c', 'd/a']);
    // An old entry survives unchanged: individual whiteouts.
    const partial = await pair(files, async (at) => {
      await rm(at('d/a'));
      await rm(at('d/b'));
    });
    expect(show(await layer(partial.base, partial.target))).toEqual(['d/', 'd/.wh.a', 'd/.wh.b']);
    // One deletion: one whiteout.
    const one = await pair({ 'd/a': 'a' }, async (at) => rm(at('d/a')));
    expect(show(await layer(one.base, one.target))).toEqual(['d/', 'd/.wh.a']);
  });

  it('hardlinks: the other names of a changed inode are written too, as links to the first name in the layer', async () => {
    const { base, target } = await pair({ 'a/keep': 'k', 'b': 'b' }, async (at) => {
      await link(at('a/keep'), at('z-new')); // a new name for an unchanged file
      await writeFile(at('b'), 'bb'); // unrelated change
    });
    expect(show(await layer(base, target))).toEqual(['a/keep', 'b', 'z-new => a/keep']);
  });

  it('SOURCE_DATE_EPOCH: nothing newer than the clamp', async () => {
    const { base, target } = await pair({ f: 'f' }, async (at) => {
      await writeFile(at('f'), 'changed');
      await writeFile(at('g'), 'new');
      await utimes(at('g'), 1_000_000, 1_000_000);
    });
    const clamp = new Date(1_500_000_000_000);
    const entries = await layer(base, target, { clampMtime: clamp });
    expect(entries.map((e) => [e.path, e.mtime.getTime()])).toEqual([
      ['f', clamp.getTime()],
      ['g', 1_000_000_000], // older than the clamp: kept
    ]);
  });

  it('a path that changed since the diff fails the stream with conflict', async () => {
    const { base, target } = await pair({ f: 'f' }, async (at) => writeFile(at('f'), 'changed'));
    const changes = await diffDirectories(base, target);
    await rm(path.join(target, 'f'));
    const err = await listTar(writeChangesetLayer(changes, { sourceDir: target }), { what: 'stale' }).catch((e: unknown) => e);
    expect(isCairnError(err, 'conflict')).toBe(true);
  });
});
