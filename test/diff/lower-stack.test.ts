// The lazy tree of shared lower layers (src/union/lower-stack.ts) and the image-diff fast path
// built on it: on random layer stacks the lazy tree, read in full, is the replayed tree, and a
// diff through it is the diff of two independent replays, with opaque directories, directory
// whiteouts, type changes, symlinks and hardlinks in the layers on top; stacks it cannot read
// literally are refused (and replayed by the caller).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import type { Change } from '../../src/diff/change.js';
import { diffLayerStacks } from '../../src/diff/images.js';
import { diffTrees } from '../../src/diff/tree-diff.js';
import { UnionTreeSide, unionTree } from '../../src/diff/union-trees.js';
import { IndexTable, NAME_CLIMBS, NAME_ROOT, NAME_WHITEOUT, pathKey } from '../../src/layer/index-table.js';
import { comparePaths } from '../../src/tar/entry.js';
import type { LayerIndex, LayerIndexEntry } from '../../src/layer/layer-index.js';
import { isUnloaded, LowerStack } from '../../src/union/lower-stack.js';
import { sortedChildren, type TreeNode } from '../../src/union/tree.js';
import { indexEntry, type LayerOp } from '../union/layers.js';

let layerCount = 0;
function layer(entries: readonly LayerIndexEntry[]): LayerIndex {
  layerCount++;
  return { diffId: `sha256:${layerCount.toString(16).padStart(64, 'a')}` as Digest, size: 0, entries };
}

const digestOf = (n: number): Digest => `sha256:${n.toString(16).padStart(64, '0')}` as Digest;

type Op = LayerOp;

const dirPart = fc.constantFrom('', 'a/', 'b/', 'a/b/', 'b/a/', 'a/a/');
const anyPath = fc.tuple(dirPart, fc.constantFrom('a', 'b', 'x', 'y')).map(([d, n]) => `${d}${n}`);
const filePath = fc.tuple(dirPart, fc.constantFrom('x', 'y')).map(([d, n]) => `${d}${n}`);
const dirPath = fc.tuple(dirPart, fc.constantFrom('a', 'b')).map(([d, n]) => `${d}${n}`);
const mtime = fc.integer({ min: 0, max: 2 }).map((s) => 1_600_000_000_000 + s * 1000);
const op = (weights: { typeChange: number; symlink: number; hardlink: number; whiteout: number; opaque: number }): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('file' as const), path: filePath, content: fc.nat(2), mode: fc.constantFrom(0o644, 0o755), mtime }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('dir' as const), path: dirPath, mode: fc.constantFrom(0o755, 0o700), mtime }) },
    // A file where a directory may be (and the other way round): type changes.
    { weight: weights.typeChange, arbitrary: fc.record({ kind: fc.constant('file' as const), path: anyPath, content: fc.nat(2), mode: fc.constant(0o644), mtime }) },
    { weight: weights.typeChange, arbitrary: fc.record({ kind: fc.constant('dir' as const), path: anyPath, mode: fc.constant(0o755), mtime }) },
    { weight: weights.symlink, arbitrary: fc.record({ kind: fc.constant('symlink' as const), path: anyPath, target: fc.oneof(anyPath, anyPath.map((p) => `/${p}`)) }) },
    { weight: weights.hardlink, arbitrary: fc.record({ kind: fc.constant('hardlink' as const), path: filePath, target: filePath }) },
    { weight: weights.whiteout, arbitrary: fc.record({ kind: fc.constant('whiteout' as const), path: anyPath }) },
    { weight: weights.opaque, arbitrary: fc.record({ kind: fc.constant('opaque' as const), path: fc.oneof(fc.constant('.'), dirPath) }) },
  );

function entryOf(o: Op): LayerIndexEntry {
  switch (o.kind) {
    case 'file':
      return indexEntry(o.path, { mode: o.mode, mtime: o.mtime, size: o.content, sha256: digestOf(o.content) });
    case 'dir':
      return indexEntry(o.path, { type: 'directory', mode: o.mode, mtime: o.mtime });
    case 'symlink':
      return indexEntry(o.path, { type: 'symlink', linkname: o.target, mode: 0o777 });
    case 'hardlink':
      return indexEntry(o.path, { type: 'hardlink', linkname: o.target });
    case 'whiteout': {
      const slash = o.path.lastIndexOf('/');
      return indexEntry(`${o.path.slice(0, slash + 1)}.wh.${o.path.slice(slash + 1)}`, { mode: 0 });
    }
    case 'opaque':
      return indexEntry(o.path === '.' ? '.wh..wh..opq' : `${o.path}/.wh..wh..opq`, { mode: 0 });
  }
}

/** A layer of `ops`; a hardlink names the file written last (or is that file when there is none). */
function layerOf(ops: readonly Op[]): LayerIndex {
  let last: string | undefined;
  return layer(
    ops.map((o) => {
      if (o.kind === 'hardlink' && last === undefined) return entryOf({ kind: 'file', path: o.path, content: 0, mode: 0o644, mtime: 0 });
      const entry = entryOf(o.kind === 'hardlink' ? { ...o, target: last as string } : o);
      if (o.kind === 'file') last = o.path;
      return entry;
    }),
  );
}

/** Shared layers as a tar of a tree holds them: each path once (the last op on it). */
const once = (ops: readonly Op[]): Op[] => [...new Map(ops.map((o) => [entryOf(o).path, o])).values()];

// Shared layers as base images have them (most of them readable lazily: few symlinks, no
// whiteouts above the bottom), and own layers with everything.
const bottomLayer = fc.array(op({ typeChange: 1, symlink: 1, hardlink: 1, whiteout: 1, opaque: 0 }), { minLength: 1, maxLength: 10 }).map(once);
const sharedLayer = fc.array(op({ typeChange: 1, symlink: 1, hardlink: 0, whiteout: 0, opaque: 0 }), { minLength: 1, maxLength: 8 }).map(once);
const ownLayer = fc.array(op({ typeChange: 2, symlink: 1, hardlink: 1, whiteout: 3, opaque: 2 }), { minLength: 1, maxLength: 6 });
const stacks = fc.record({
  bottom: bottomLayer,
  shared: fc.array(sharedLayer, { maxLength: 2 }),
  a: fc.array(ownLayer, { maxLength: 2 }),
  b: fc.array(ownLayer, { minLength: 1, maxLength: 2 }),
});

/** A tree read in full: names, inode fields, and which paths share an inode. */
function snapshot(root: TreeNode): unknown[] {
  const ids = new Map<unknown, number>();
  const out: unknown[] = [];
  const walk = (node: TreeNode, at: string): void => {
    for (const [name, child] of sortedChildren(node)) {
      const p = `${at}/${name}`;
      let id = ids.get(child.inode);
      if (id === undefined) ids.set(child.inode, (id = ids.size));
      out.push({ p, inode: { ...child.inode }, shared: child.children ? undefined : id });
      if (child.children) walk(child, p);
    }
  };
  out.push({ p: '/', inode: { ...root.inode } });
  walk(root, '');
  return out;
}

function attempt<T>(run: () => T): T | 'error' {
  try {
    return run();
  } catch {
    return 'error';
  }
}

async function attemptAsync<T>(run: () => Promise<T>): Promise<T | 'error'> {
  try {
    return await run();
  } catch {
    return 'error';
  }
}

describe('LowerStack: the lazy tree of a layer stack', () => {
  it('random stacks: read in full, it is the replayed tree; a stack whose replay fails is refused', () => {
    const tally = { lazy: 0, refused: 0 };
    fc.assert(
      fc.property(fc.record({ bottom: bottomLayer, shared: fc.array(sharedLayer, { maxLength: 2 }) }), ({ bottom, shared }) => {
        const indexes = [bottom, ...shared].map(layerOf);
        const lower = LowerStack.open(indexes.map((i) => IndexTable.of(i)));
        const replayed = attempt(() => snapshot(unionTree(indexes)));
        if (!lower) {
          tally.refused++;
          return;
        }
        tally.lazy++;
        expect(replayed).not.toBe('error');
        expect(snapshot(lower.root())).toEqual(replayed);
      }),
      { numRuns: Number(process.env.CAIRN_DIFF_RUNS ?? 500) },
    );
    console.log(`lazy lower tree property: ${JSON.stringify(tally)}`);
    expect(tally.lazy).toBeGreaterThan(tally.refused);
  });

  it('refuses what it cannot read literally: an entry below a lower symlink, whiteouts above the bottom', () => {
    const bottom = layer([indexEntry('usr/bin/'), indexEntry('bin', { type: 'symlink', linkname: 'usr/bin' })]);
    const through = layer([indexEntry('bin/sh')]);
    const beside = layer([indexEntry('usr/bin/sh')]);
    const whiteout = layer([indexEntry('usr/.wh.bin')]);
    const tables = (...l: LayerIndex[]): IndexTable[] => l.map((i) => IndexTable.of(i));
    expect(LowerStack.open(tables(bottom, through))).toBeUndefined();
    expect(LowerStack.open(tables(bottom, whiteout))).toBeUndefined();
    expect(LowerStack.open(tables(bottom, beside))).toBeDefined();
  });

  it('loads a directory only when asked', () => {
    const lower = LowerStack.open([IndexTable.of(layer([indexEntry('etc/'), indexEntry('etc/motd'), indexEntry('usr/share/doc/x')]))]);
    const root = (lower as LowerStack).root();
    const usr = root.children?.get('usr') as TreeNode;
    expect(isUnloaded(usr)).toBe(true);
    expect(usr.inode).toMatchObject({ type: 'directory', origin: 'implicit' });
    expect([...(usr.children as Map<string, TreeNode>).keys()]).toEqual(['share']);
    expect(isUnloaded(usr)).toBe(false);
  });
});

describe('IndexTable: key order and lookups', () => {
  it('finds every path of an index in archive disorder, in comparePaths order', () => {
    const paths = ['b', 'a-b', 'a/b', 'a', '.', 'a/b/c', 'a.b', 'ä'];
    const table = IndexTable.of(layer(paths.map((p) => indexEntry(p))));
    expect([...table.sorted].map((i) => table.path(i))).toEqual(['.', 'a', 'a/b', 'a/b/c', 'a-b', 'a.b', 'b', 'ä']);
    for (const [i, p] of paths.entries()) expect(table.find(pathKey(p))).toBe(i);
    expect(table.find(pathKey('a/c'))).toBe(-1);
    expect(table.relation(3, 2)).toBe('below');
    expect(table.relation(2, 5)).toBe('below');
    expect(table.relation(3, 1)).toBeUndefined();
  });

  it('orders random archives (runs of entries out of place, duplicates) as a stable sort by comparePaths', () => {
    const segment = fc.constantFrom('a', 'a.b', 'a-b', 'b', 'a/b', 'ä', 'a.b/c');
    const paths = fc.array(fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')), { maxLength: 40 });
    fc.assert(
      fc.property(paths, (list) => {
        const table = IndexTable.of(layer(list.map((p) => indexEntry(p))));
        const expected = list.map((p, i) => ({ p, i })).sort((x, y) => comparePaths(x.p, y.p) || x.i - y.i).map((e) => e.i);
        expect([...table.sorted]).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('flags the root, paths that climb out, and whiteout names', () => {
    const paths = ['.', '..', '../x', '..x', '.x', 'a/.wh.b', '.wh..wh..opq', 'a/.wh.', 'a/.whb', '.wh.a/b', 'a/b'];
    const table = IndexTable.of(layer(paths.map((p) => indexEntry(p))));
    expect(paths.map((_, i) => table.nameFlags(i))).toEqual([NAME_ROOT, NAME_CLIMBS, NAME_CLIMBS, 0, 0, NAME_WHITEOUT, NAME_WHITEOUT, NAME_WHITEOUT, 0, 0, 0]);
  });
});

describe('image diffs over a lazy shared stack', () => {
  it('random stacks with shared layers: the same changes as two independent replays', async () => {
    const tally = { lazy: 0, replayed: 0, changes: 0, errors: 0 };
    await fc.assert(
      fc.asyncProperty(stacks, async ({ bottom, shared, a, b }) => {
        const prefix = [bottom, ...shared].map(layerOf);
        const stackA = [...prefix, ...a.map(layerOf)];
        const stackB = [...prefix, ...b.map(layerOf)];
        if (LowerStack.open(prefix.map((i) => IndexTable.of(i)))) tally.lazy++;
        else tally.replayed++;
        const fast = await attemptAsync(() => diffLayerStacks(stackA, stackB));
        const plain = await attemptAsync(() => diffTrees(new UnionTreeSide(unionTree(stackA)), new UnionTreeSide(unionTree(stackB))));
        expect(fast).toEqual(plain);
        if (plain === 'error') tally.errors++;
        else tally.changes += (plain as Change[]).length;
      }),
      { numRuns: Number(process.env.CAIRN_DIFF_RUNS ?? 500) },
    );
    console.log(`lazy shared-stack diff property: ${JSON.stringify(tally)}`);
    expect(tally.lazy).toBeGreaterThan(tally.replayed);
  }, 120_000);

  it('an upper layer writing through a lower symlink lands where the symlink points', async () => {
    const bottom = layer([indexEntry('usr/bin/'), indexEntry('usr/bin/ls'), indexEntry('bin', { type: 'symlink', linkname: 'usr/bin' })]);
    const top = layer([indexEntry('bin/sh', { mtime: 5 })]);
    expect(LowerStack.open([IndexTable.of(bottom)])).toBeDefined();
    const changes = await diffLayerStacks([bottom], [bottom, top]);
    expect(changes.map((c) => `${c.kind} ${c.path}`)).toEqual(['C /usr/bin', 'A /usr/bin/sh']);
  });
});
