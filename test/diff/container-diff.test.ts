// container-diff's layer tars with expected trees (../shared/conformance/container-diff/NOTES.md):
// each layer applied to a copy of la-croix-starter gives its `-actual` tree; the changes it
// makes, seen by diffing the two directories and by diffing layer indexes (no unpacking), are
// the A/C/D the NOTES describe; and those changes written back as a layer reproduce the tree.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChanges, type Change } from '../../src/diff/change.js';
import { diffDirectories } from '../../src/diff/directories.js';
import { diffLayerStacks } from '../../src/diff/images.js';
import { writeChangesetLayer } from '../../src/diff/layer-writer.js';
import { applyLayer } from '../../src/layer/apply.js';
import { buildLayerIndex } from '../../src/layer/index-build.js';
import { treeManifest } from '../layer/tree-manifest.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { copyTree, dirLayer, forgiveApplierMs, records } from './trees.js';

const lines = (changes: readonly Change[]): string[] => formatChanges(changes).trimEnd().split('\n').filter((l) => l !== '');
const tars = (...p: string[]): string => conformancePath('container-diff', 'util', 'testTars', ...p);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-diff-cd-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Paths (directories with a trailing /) and file contents: what the `-actual` trees say. */
async function shape(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const r of await treeManifest(root)) {
    if (r.path === '.') continue;
    out.push(r.type === 'dir' ? `${r.path}/` : `${r.path} ${createHash('sha256').update(await readFile(path.join(root, r.path))).digest('hex').slice(0, 12)}`);
  }
  return out;
}

const CASES: readonly { tar: string; changes: string[] }[] = [
  { tar: 'la-croix-update', changes: ['C /lime.txt'] },
  { tar: 'la-croix-dir-update', changes: ['C /nest', 'A /nest/f2.txt'] },
  // `.wh.lime.txt` (a file) and `.wh.nest` (a directory): one D each; the tar is not sorted.
  { tar: 'la-croix-wh', changes: ['D /lime.txt', 'D /nest', 'A /nest2', 'A /nest2/hello'] },
];

describe.skipIf(!hasShared)('container-diff layer tars on la-croix-starter', () => {
  for (const { tar, changes } of CASES) {
    it(`${tar}.tar: the expected tree, and its changes from directories and from layer indexes`, async () => {
      const starter = path.join(work, `${tar}-starter`);
      const applied = path.join(work, `${tar}-applied`);
      await copyTree(tars('la-croix-starter'), starter);
      await copyTree(starter, applied);
      await applyLayer(applied, createReadStream(tars(`${tar}.tar`)), { what: tar });
      expect(await shape(applied)).toEqual(await shape(tars(`${tar}-actual`)));

      const fromDirs = await diffDirectories(starter, applied);
      expect(lines(fromDirs)).toEqual(changes);

      const lower = (await buildLayerIndex(Readable.from([await dirLayer(starter)]), { what: 'starter' })).index;
      const layer = (await buildLayerIndex(createReadStream(tars(`${tar}.tar`)), { what: tar })).index;
      expect(lines(await diffLayerStacks([lower], [lower, layer]))).toEqual(changes);

      // The changes as a layer of our own, applied to the starter, give the same tree.
      const again = path.join(work, `${tar}-again`);
      await copyTree(starter, again);
      await applyLayer(again, writeChangesetLayer(fromDirs, { sourceDir: applied }), { what: `${tar} again` });
      const want = await records(applied);
      expect(forgiveApplierMs(await records(again), want)).toEqual(want);
    });
  }
});
