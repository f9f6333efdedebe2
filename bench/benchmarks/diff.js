/**
 * Benchmark "diff" (issue Layers, "Diffs and new layers"): the changes between the Debian
 * bookworm fixture and bookworm-v2 (one more layer: /etc/debian_version changed,
 * /usr/share/doc/bash deleted) from layer indexes alone (they exist: setup builds them), against
 * unpacking both images with umoci and comparing the trees with `diff -r`. Also: cairn's
 * directory diff of the two trees once unpacked (a full lstat walk of both), for scale.
 * Target: the image diff under 0.2 s after indexes exist (the harness has ratio targets only, so
 * a `sleep 0.2` case stands for 0.2 s) and peak RSS < 150 MiB.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '../../dist/store/store.js';
import { copy } from '../../dist/transport/open.js';
import { resolveImage } from '../../dist/image/resolve.js';
import { diffImages } from '../../dist/diff/images.js';
import { diffDirectories } from '../../dist/diff/directories.js';
import { formatChanges } from '../../dist/diff/change.js';
import { indexImage } from '../../dist/layer/index-store.js';

const run = promisify(execFile);

/**
 * @typedef {object} State
 * @property {string} root
 * @property {string} store
 * @property {string} layout
 * @property {string} expected  the changes, as `cairn diff` prints them
 * @property {string} treeA      bookworm unpacked by umoci (for the directory-diff case)
 * @property {string} treeB      bookworm-v2 unpacked by umoci
 * @property {number} entries    entries in the bookworm layer index
 */

const A = 'debian:bookworm';
const B = 'debian:bookworm-v2';
const OUT = 'changes.txt';

/** `sh -c TO_FILE sh FILE PROGRAM ARGS...`: runs PROGRAM (exec: the same process) with stdout to FILE. */
const TO_FILE = 'out=$1; shift; exec "$@" > "$out"';

/** @param {{dir: string}} r */
const outFile = (r) => join(r.dir, OUT);

/**
 * @param {State} s
 * @param {{dir: string}} r
 */
async function verify(s, r) {
  const got = await readFile(outFile(r), 'utf8');
  if (got !== s.expected) throw new Error(`wrong changes:\n${got}\nexpected:\n${s.expected}`);
}

/** @type {import('../lib/types.js').Benchmark<State>} */
export default {
  name: 'diff',
  title: 'diff two Debian images (bookworm → bookworm-v2) from layer indexes, against unpacking both and diff -r',
  versions: [['umoci', '--version'], ['diff', '--version']],
  async setup(ctx) {
    const fixtures = await ctx.fixtures({ debian: true });
    const a = fixtures.image('debian/oci-umoci:bookworm');
    const b = fixtures.image('debian/oci-umoci:bookworm-v2');
    if (a.path !== b.path) throw new Error('expected both Debian images in one layout');
    const storeDir = join(ctx.scratch, 'store');
    const store = await Store.open(storeDir);
    await copy(`oci:${a.path}:${a.ref}`, A, { store });
    await copy(`oci:${b.path}:${b.ref}`, B, { store });
    // The indexes (one decompression pass per layer, saved in meta): "after indexes exist".
    const indexed = await indexImage(store, await resolveImage(store, B));
    const expected = formatChanges(await diffImages(store, await resolveImage(store, A), await resolveImage(store, B)));
    ctx.log(`diff: ${expected.trimEnd().split('\n').join(', ')}`);
    const treeA = join(ctx.scratch, 'tree-a');
    const treeB = join(ctx.scratch, 'tree-b');
    await run('umoci', ['raw', 'unpack', '--image', `${a.path}:${a.ref}`, treeA]);
    await run('umoci', ['raw', 'unpack', '--image', `${b.path}:${b.ref}`, treeB]);
    await ctx.warm([a.path, storeDir]);
    return {
      root: ctx.root,
      store: storeDir,
      layout: a.path,
      expected,
      treeA,
      treeB,
      entries: indexed[0]?.index.entries.length ?? 0,
    };
  },
  describe: (s) =>
    `Input: fixture layout \`debian/oci-umoci\` (scripts/build-fixtures, DEBIAN=1), tags bookworm (1 layer, ${s.entries} entries) and ` +
    `bookworm-v2 (+1 layer), copied into a store whose layer indexes are built in setup. Expected changes: ` +
    `${s.expected.trimEnd().split('\n').map((l) => `\`${l}\``).join(', ')}; every cairn run's output is checked. ` +
    `The umoci case unpacks both images (120 MB each) and runs \`diff -rq --no-dereference\`. ` +
    `\`sleep 0.2\` is the 0.2 s target as a case, so the harness can state it as a ratio.`,
  cases: [
    {
      label: 'cairn diff (CLI)',
      command: (s, r) => ['sh', '-c', TO_FILE, 'sh', outFile(r), process.execPath, join(s.root, 'bin', 'cairn.js'), '--store', s.store, 'diff', A, B],
      verify,
    },
    {
      label: 'cairn diffImages() in-process',
      fn: async (s, r) => {
        const store = await Store.open(s.store);
        const changes = await diffImages(store, await resolveImage(store, A), await resolveImage(store, B));
        await writeFile(outFile(r), formatChanges(changes));
      },
      verify,
    },
    {
      label: 'cairn diffDirectories() of the unpacked trees',
      fn: async (s, r) => {
        await writeFile(outFile(r), formatChanges(await diffDirectories(s.treeA, s.treeB)));
      },
      verify,
    },
    {
      label: 'umoci unpack ×2 + diff -r',
      baseline: true,
      command: (s, r) => [
        'sh',
        '-c',
        'umoci raw unpack --image "$1:bookworm" "$2/a" >/dev/null 2>&1 && umoci raw unpack --image "$1:bookworm-v2" "$2/b" >/dev/null 2>&1 && ' +
          'diff -rq --no-dereference "$2/a" "$2/b" > "$2/diff.txt"; test $? -eq 1',
        'sh',
        s.layout,
        r.dir,
      ],
    },
    {
      label: 'sleep 0.2 (the target)',
      command: () => ['sleep', '0.2'],
    },
  ],
  targets: [
    { case: 'cairn diffImages() in-process', vs: 'sleep 0.2 (the target)', maxRatio: 1 },
    { case: 'cairn diff (CLI)', vs: 'sleep 0.2 (the target)', maxRatio: 1 },
    { case: 'cairn diff (CLI)', maxRssMiB: 150 },
    { case: 'cairn diffImages() in-process', maxRssMiB: 150 },
  ],
};
