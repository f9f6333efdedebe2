// Image diffs from layer indexes (no unpacking): the layer-by-layer changes of real images with
// documented contents (dive's 14-layer docker save, go-containerregistry's whiteout and
// overwrite images), the busybox fixtures (umoci, buildah, a podman commit), the Debian pair
// (opt-in), `cairn diff` output, and the shared-prefix shortcut held against two independent
// replays on random layer stacks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import type { Command } from '../../src/cli/context.js';
import { formatChanges, type Change, type ChangeJSON } from '../../src/diff/change.js';
import { diffImages, diffLayerStacks, diffTopLayer } from '../../src/diff/images.js';
import { diffTrees } from '../../src/diff/tree-diff.js';
import { UnionTreeSide, unionTree } from '../../src/diff/union-trees.js';
import { manifestOf, resolveImage } from '../../src/image/resolve.js';
import { buildLayerIndex } from '../../src/layer/index-build.js';
import { imageLayers, type LayerRef } from '../../src/layer/index-store.js';
import type { LayerIndex } from '../../src/layer/layer-index.js';
import { Store } from '../../src/store/store.js';
import { packTar, type TarEntryInit } from '../../src/tar/index.js';
import { loadArchive } from '../../src/transport/load.js';
import { copy } from '../../src/transport/open.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';
import type { LayerOp } from '../union/layers.js';
import { conformancePath, hasShared } from '../support/shared.js';

const lines = (changes: readonly Change[]): string[] => formatChanges(changes).trimEnd().split('\n').filter((l) => l !== '');

let work: string;
let store: Store;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-diff-images-'));
  store = await Store.open(path.join(work, 'store'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The layers of the (only) image of a docker archive, loaded into the store. */
async function archiveLayers(file: string): Promise<LayerRef[]> {
  const [image] = await loadArchive(store, file);
  if (!image) throw new Error(`${file}: no image`);
  return imageLayers(store, await manifestOf(store, image.descriptor));
}

/** The changes each layer makes to the ones below it. */
async function perLayer(layers: readonly LayerRef[]): Promise<string[][]> {
  const out: string[][] = [];
  for (let i = 0; i < layers.length; i++) out.push(lines(await diffImages(store, layers.slice(0, i), layers.slice(0, i + 1))));
  return out;
}

describe.skipIf(!hasShared)('conformance images, layer by layer', () => {
  it("dive's docker save: each RUN/ADD step's changes (the Dockerfile and the golden per-layer file lists)", async () => {
    const layers = await archiveLayers(conformancePath('dive', '.data', 'test-docker-image.tar'));
    expect(layers).toHaveLength(14);
    const steps = await perLayer(layers);
    // Layer 0 is busybox: every one of its 415 entries is new.
    expect(steps[0]).toHaveLength(415);
    expect(steps[0]?.every((l) => l.startsWith('A /'))).toBe(true);
    expect(steps.slice(1)).toEqual([
      ['A /somefile.txt'], // ADD README.md /somefile.txt
      ['C /root', 'A /root/example', 'A /root/example/really', 'A /root/example/really/nested'], // mkdir -p
      ['C /root/example', 'A /root/example/somefile1.txt'], // cp (the layer re-sends an unchanged root/)
      ['C /root/example/somefile1.txt'], // chmod 444 (root/ and root/example/ re-sent unchanged)
      ['C /root/example', 'A /root/example/somefile2.txt'],
      ['C /root/example', 'A /root/example/somefile3.txt'],
      ['C /root', 'C /root/example', 'D /root/example/somefile3.txt', 'A /root/saved.txt'], // mv: .wh.somefile3.txt
      ['C /root', 'A /root/.saved.txt'],
      ['C /root', 'D /root/example'], // rm -rf: one whiteout, one D
      ['C /root', 'A /root/.data', 'A /root/.data/tag.sh', 'A /root/.data/test.sh'], // ADD dir
      ['C /tmp', 'A /tmp/saved.again1.txt'],
      ['C /root/.data', 'A /root/.data/saved.again2.txt'],
      ['C /root/saved.txt'], // chmod +x
    ]);
    // The whole image against busybox alone.
    expect(lines(await diffImages(store, layers.slice(0, 1), layers))).toEqual([
      'C /root',
      'A /root/.data',
      'A /root/.data/saved.again2.txt',
      'A /root/.data/tag.sh',
      'A /root/.data/test.sh',
      'A /root/.saved.txt',
      'A /root/saved.txt',
      'A /somefile.txt',
      'C /tmp',
      'A /tmp/saved.again1.txt',
    ]);
  });

  it("go-containerregistry's whiteout and overwrite images", async () => {
    const ggcr = (f: string): string => conformancePath('go-containerregistry', 'pkg', 'v1', 'mutate', 'testdata', f);
    expect(await perLayer(await archiveLayers(ggcr('whiteout_image.tar')))).toEqual([['A /bar.txt', 'A /foo.txt'], ['D /foo.txt'], []]);
    const dir = await archiveLayers(ggcr('whiteout_dir.tar'));
    expect(await perLayer(dir)).toEqual([['A /a', 'A /a/foo'], ['A /b', 'A /b/bar'], ['D /a'], ['A /a', 'A /a/baz']]);
    // The directory whited out and made again, seen across both steps: its old child is gone.
    const across = lines(await diffImages(store, dir.slice(0, 2), dir));
    expect(across.filter((l) => !l.startsWith('C /a'))).toEqual(['A /a/baz', 'D /a/foo']);
    const overwritten = await archiveLayers(ggcr('overwritten_file.tar'));
    const steps = await diffImages(store, overwritten.slice(0, 1), overwritten.slice(0, 2));
    expect(lines(steps)).toEqual(['A /bar.txt', 'C /foo.txt']);
    // The JSON form says what changed: a file became a symlink to bar.txt.
    const foo = steps.find((c) => c.path === '/foo.txt');
    expect([foo?.before?.type, foo?.after?.type, foo?.after?.linkname]).toEqual(['file', 'symlink', 'bar.txt']);
  });
});

/** Runs the diff command the way `cairn --store STORE diff ARGS` would. */
async function cairnDiff(storeDir: string, ...args: string[]): Promise<{ status: number; stdout: string }> {
  const { command } = (await import('../../src/cli/commands/diff.js')) as unknown as { command: Command };
  const stdout = new PassThrough();
  const out: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  const specs = { ...command.options, store: { type: 'string', description: '' } } as const;
  const parsed = parseArgs('diff', ['--store', storeDir, ...args], specs);
  const status = await command.run({ stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: {} }, parsed as Parameters<Command['run']>[1]);
  return { status, stdout: Buffer.concat(out).toString() };
}

const BUSYBOX = ['busybox/oci-umoci:1', 'busybox/oci-umoci:2', 'busybox/oci-umoci:3', 'busybox/oci-buildah-det:1', 'busybox/oci-committed:1'];

describe.skipIf(skipWithoutFixtures(...BUSYBOX))('busybox fixtures (spec-notes/fixtures.md)', () => {
  const storeDir = (): string => path.join(work, 'fixtures-store');
  let fx: Store;
  beforeAll(async () => {
    fx = await Store.open(storeDir());
    for (const name of BUSYBOX) {
      const img = fixture(name);
      await copy(`oci:${img.path}:${img.ref}`, `fx/${name.split('/')[1]}`, { store: fx });
    }
  });
  const image = (name: string): ReturnType<typeof resolveImage> => resolveImage(fx, `fx/${name.split('/')[1]}`);

  it('umoci:1 → umoci:2 (motd changed, sed deleted, newdir added) and umoci:2 → umoci:3 (opaque /tmp, hardlink, symlink)', async () => {
    expect(lines(await diffImages(fx, await image('busybox/oci-umoci:1'), await image('busybox/oci-umoci:2')))).toEqual([
      'C /bin',
      'D /bin/sed',
      'C /etc',
      'C /etc/motd',
      'A /newdir',
      'A /newdir/file',
    ]);
    expect(lines(await diffImages(fx, await image('busybox/oci-umoci:2'), await image('busybox/oci-umoci:3')))).toEqual([
      'A /data',
      'A /data/a',
      'A /data/b',
      'A /data/link',
      'C /tmp',
      'A /tmp/file',
    ]);
    // Old → new is the order: the other way round, additions are deletions.
    expect(lines(await diffImages(fx, await image('busybox/oci-umoci:3'), await image('busybox/oci-umoci:2')))).toEqual([
      'D /data',
      'C /tmp',
      'D /tmp/file',
    ]);
    expect(await diffImages(fx, await image('busybox/oci-umoci:3'), await image('busybox/oci-umoci:3'))).toEqual([]);
  });

  it("the podman-committed container: busybox:1 + podman's commit of `echo changed > /etc/motd; rm /bin/sed; mkdir /newdir; echo new > /newdir/file`", async () => {
    const changes = lines(await diffImages(fx, await image('busybox/oci-buildah-det:1'), await image('busybox/oci-committed:1')));
    // podman's own files (README: etc/hostname, etc/hosts, etc/mtab, run/.containerenv) are in the layer too.
    const podmanArtifacts = ['/etc/hostname', '/etc/hosts', '/etc/mtab', '/run', '/run/.containerenv'];
    expect(changes.filter((l) => !podmanArtifacts.includes(l.slice(2)))).toEqual(['C /bin', 'D /bin/sed', 'C /etc', 'C /etc/motd', 'A /newdir', 'A /newdir/file']);
    // The same as the top layer alone (the committed image is buildah-det:1 + one layer).
    expect(lines(await diffTopLayer(fx, await image('busybox/oci-committed:1')))).toEqual(changes);
  });

  it('cairn diff IMAGE1 IMAGE2, --json, and cairn diff IMAGE (its top layer)', async () => {
    const text = await cairnDiff(storeDir(), 'fx/oci-umoci:1', 'fx/oci-umoci:2');
    expect(text).toEqual({ status: 0, stdout: 'C /bin\nD /bin/sed\nC /etc\nC /etc/motd\nA /newdir\nA /newdir/file\n' });
    const json = JSON.parse((await cairnDiff(storeDir(), '--json', 'fx/oci-umoci:1', 'fx/oci-umoci:2')).stdout) as ChangeJSON[];
    expect(json.map((c) => `${c.kind} ${c.path}`)).toEqual(text.stdout.trimEnd().split('\n'));
    const motd = json.find((c) => c.path === '/etc/motd');
    expect(motd?.before?.sha256).not.toBe(motd?.after?.sha256);
    expect(motd?.after).toMatchObject({ type: 'file', mode: 0o644, uid: 0, gid: 0 });
    expect(typeof motd?.after?.mtime).toBe('string');
    const sed = json.find((c) => c.path === '/bin/sed');
    expect(sed).toMatchObject({ kind: 'D', before: { type: 'symlink' } });
    expect(sed?.after).toBeUndefined();
    expect((await cairnDiff(storeDir(), 'fx/oci-umoci:2')).stdout).toBe(text.stdout);
  });
});

describe.skipIf(skipWithoutFixtures('debian/oci-umoci:bookworm', 'debian/oci-umoci:bookworm-v2'))('Debian bookworm → bookworm-v2', () => {
  it('one changed file, one deleted directory (and its parent, which umoci re-sends)', async () => {
    const deb = await Store.open(path.join(work, 'debian-store'));
    for (const tag of ['bookworm', 'bookworm-v2']) {
      const img = fixture(`debian/oci-umoci:${tag}`);
      await copy(`oci:${img.path}:${img.ref}`, `debian:${tag}`, { store: deb });
    }
    const [a, b] = [await resolveImage(deb, 'debian:bookworm'), await resolveImage(deb, 'debian:bookworm-v2')];
    expect(lines(await diffImages(deb, a, b))).toEqual(['C /etc/debian_version', 'C /usr/share/doc', 'D /usr/share/doc/bash']);
  }, 120_000);
});

// --- the shared-prefix shortcut against two independent replays -------------------------------

const dirPart = fc.constantFrom('', 'a/', 'b/', 'a/b/', 'b/a/');
const layerPath = fc.tuple(dirPart, fc.constantFrom('a', 'b', 'x', 'y')).map(([d, n]) => `${d}${n}`);
// Files are named x and y, directories a and b: most stacks apply (a file is rarely a parent).
const filePath = fc.tuple(dirPart, fc.constantFrom('x', 'y')).map(([d, n]) => `${d}${n}`);
const dirPath = fc.tuple(dirPart, fc.constantFrom('a', 'b')).map(([d, n]) => `${d}${n}`);
const mtime = fc.integer({ min: 0, max: 3 }).map((s) => 1_600_000_000_000 + s * 1000);
const layerOp: fc.Arbitrary<LayerOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('file' as const), path: filePath, content: fc.nat(2), mode: fc.constantFrom(0o644, 0o755), mtime }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('dir' as const), path: dirPath, mode: fc.constantFrom(0o755, 0o700), mtime }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('symlink' as const), path: layerPath, target: fc.oneof(layerPath, fc.constant('..'), layerPath.map((p) => `/${p}`)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hardlink' as const), path: filePath, target: filePath }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('whiteout' as const), path: layerPath }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('opaque' as const), path: fc.oneof(dirPart.map((d) => d.replace(/\/$/, '') || '.'), dirPath) }) },
);
const layerArb = fc.array(layerOp, { minLength: 1, maxLength: 8 });

function entryOf(op: LayerOp): { entry: TarEntryInit; body?: Buffer } {
  switch (op.kind) {
    case 'file': {
      const body = Buffer.from(`${op.path}:${op.content}`);
      return { entry: { path: op.path, type: 'file', mode: op.mode, mtime: op.mtime, size: body.length }, body };
    }
    case 'dir':
      return { entry: { path: op.path, type: 'directory', mode: op.mode, mtime: op.mtime } };
    case 'symlink':
      return { entry: { path: op.path, type: 'symlink', linkname: op.target } };
    case 'hardlink':
      return { entry: { path: op.path, type: 'hardlink', linkname: op.target } };
    case 'whiteout': {
      const slash = op.path.lastIndexOf('/');
      return { entry: { path: `${op.path.slice(0, slash + 1)}.wh.${op.path.slice(slash + 1)}`, type: 'file', mode: 0 }, body: Buffer.alloc(0) };
    }
    case 'opaque':
      return { entry: { path: op.path === '.' ? '.wh..wh..opq' : `${op.path}/.wh..wh..opq`, type: 'file', mode: 0 }, body: Buffer.alloc(0) };
  }
}

async function indexOf(ops: readonly LayerOp[]): Promise<LayerIndex> {
  // A hardlink names the file this layer wrote last (or becomes that file when there is none).
  let last: string | undefined;
  const items = ops.map((op) => {
    if (op.kind === 'hardlink' && last === undefined) return entryOf({ kind: 'file', path: op.path, content: 0, mode: 0o644, mtime: 0 });
    const item = entryOf(op.kind === 'hardlink' ? { ...op, target: last as string } : op);
    if (op.kind === 'file') last = op.path;
    return item;
  });
  const tar = await buffer(packTar(items));
  return (await buildLayerIndex(Readable.from([tar]), { what: 'random layer' })).index;
}

async function outcome(run: () => Promise<Change[]>): Promise<Change[] | 'error'> {
  try {
    return await run();
  } catch (err) {
    if (process.env.CAIRN_DEBUG_DIFF) console.log(String(err));
    return 'error';
  }
}

describe('shared lower layers are merged once (union-trees.ts), with the same result', () => {
  it('random stacks: prefix + own layers on each side, against two independent replays', async () => {
    const tally = { compared: 0, changes: 0, errors: 0 };
    const stacks = fc.record({
      shared: fc.array(layerArb, { minLength: 1, maxLength: 2 }),
      a: fc.array(layerArb, { maxLength: 2 }),
      b: fc.array(layerArb, { maxLength: 2 }),
    });
    await fc.assert(
      fc.asyncProperty(stacks, async ({ shared, a, b }) => {
        const prefix = await Promise.all(shared.map(indexOf));
        const stackA = [...prefix, ...(await Promise.all(a.map(indexOf)))];
        const stackB = [...prefix, ...(await Promise.all(b.map(indexOf)))];
        const fast = await outcome(() => diffLayerStacks(stackA, stackB));
        const plain = await outcome(async () => diffTrees(new UnionTreeSide(unionTree(stackA)), new UnionTreeSide(unionTree(stackB))));
        expect(fast).toEqual(plain);
        if (plain === 'error') tally.errors++;
        else {
          tally.compared++;
          tally.changes += plain.length;
        }
      }),
      { numRuns: Number(process.env.CAIRN_DIFF_RUNS ?? 300) },
    );
    console.log(`shared-prefix property: ${JSON.stringify(tally)}`);
    expect(tally.compared).toBeGreaterThan(tally.errors);
  }, 120_000);
});
