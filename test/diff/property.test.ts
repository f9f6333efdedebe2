// Property (issue 3, "Diffs and new layers"): for random base and target trees on disk (files
// with random contents, modes, owners and times, directories, symlinks, hardlinks, fifos,
// xattrs; type changes file↔dir↔symlink, deleted subtrees, wholesale directory replacements,
// same-size rewrites that keep the mtime), applying the layer written from
// diff(base, target) to a copy of base gives target: same paths, types, modes, owners, sizes,
// contents, link targets, link counts, xattrs and mtimes (the root's own mtime aside: `/` is
// never part of a changeset). Also: diff(target, that result) is empty, and the layer's bytes
// do not depend on when it was written.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffDirectories } from '../../src/diff/directories.js';
import { writeChangesetLayer } from '../../src/diff/layer-writer.js';
import { applyLayer } from '../../src/layer/apply.js';
import { listTar } from '../../src/tar/index.js';
import { baseOps, copyTree, forgiveApplierMs, mutationOps, onlyApplierMs, records, runOps, type Op } from './trees.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-diff-property-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const tally = { cases: 0, changes: 0, whiteouts: 0, opaque: 0, hardlinks: 0, typeChanges: 0 };
let n = 0;

async function roundTrip(base: readonly Op[], mutations: readonly Op[]): Promise<void> {
  const dir = path.join(work, `c${n++}`);
  const [a, b, c] = ['base', 'target', 'applied'].map((d) => path.join(dir, d)) as [string, string, string];
  await mkdir(a, { recursive: true });
  try {
    await runOps(a, base);
    await copyTree(a, b);
    await runOps(b, mutations);
    const changes = await diffDirectories(a, b);
    const tar = await buffer(writeChangesetLayer(changes, { sourceDir: b }));
    await copyTree(a, c);
    await applyLayer(c, Readable.from([tar]), { what: 'changeset layer' });
    const want = await records(b);
    expect(forgiveApplierMs(await records(c), want)).toEqual(want);
    const again = (await diffDirectories(b, c)).filter((ch) => !onlyApplierMs(ch));
    expect(again).toEqual([]);
    // Deterministic: the same changes of the same tree give the same bytes.
    expect(Buffer.compare(await buffer(writeChangesetLayer(changes, { sourceDir: b })), tar)).toBe(0);
    tally.cases++;
    tally.changes += changes.length;
    tally.typeChanges += changes.filter((ch) => ch.kind === 'C' && ch.before?.type !== ch.after?.type).length;
    for (const entry of await listTar(Readable.from([tar]), { what: 'changeset layer' })) {
      if (entry.path.endsWith('.wh..wh..opq')) tally.opaque++;
      else if (entry.path.split('/').pop()?.startsWith('.wh.')) tally.whiteouts++;
      if (entry.type === 'hardlink') tally.hardlinks++;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.skipIf(process.getuid?.() !== 0)('apply(base, layer(diff(base, target))) == target (property, as root: owners, fifos, xattrs)', () => {
  it('random trees', async () => {
    await fc.assert(fc.asyncProperty(baseOps, mutationOps, roundTrip), { numRuns: Number(process.env.CAIRN_DIFF_RUNS ?? 50) });
    console.log(`diff property: ${JSON.stringify(tally)}`);
    expect(tally.cases).toBe(Number(process.env.CAIRN_DIFF_RUNS ?? 50));
    expect(tally.whiteouts + tally.opaque).toBeGreaterThan(0);
  }, 300_000);

  it('a directory replaced wholesale gets an opaque marker, and its old entries stay gone', async () => {
    await roundTrip(
      [
        { kind: 'file', path: 'a/x', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'file', path: 'a/y', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'dir', path: 'a/b', mode: 0o755, uid: 0 },
        { kind: 'file', path: 'a/b/z', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
      ],
      [{ kind: 'replace-dir', path: 'a', files: ['x'] }],
    );
    expect(tally.opaque).toBeGreaterThan(0);
  });

  it('hardlinks: a new name for an unchanged file, a link broken, a linked file rewritten', async () => {
    await roundTrip(
      [
        { kind: 'file', path: 'a/x', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'link', path: 'a/y', target: 'a/x' },
        { kind: 'file', path: 'b', size: 3, mode: 0o644, uid: 0, t: 1_700_000_000_000 },
        { kind: 'link', path: 'c', target: 'b' },
      ],
      [
        { kind: 'link', path: 'z', target: 'a/x' },
        { kind: 'file', path: 'c', size: 3, mode: 0o644, uid: 0, t: 1_700_000_001_000 },
        { kind: 'rewrite', path: 'b' },
      ],
    );
  });
});
