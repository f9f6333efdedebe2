// unpack and exportRootfs over the store, and their CLI commands: diffIDs verified in the same
// pass (a lying config fails and leaves nothing behind), target directory rules, platforms,
// deterministic flattened exports that re-apply to the same tree.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { command as exportCommand } from '../../src/cli/commands/export.js';
import { command as unpackCommand } from '../../src/cli/commands/unpack.js';
import type { Command } from '../../src/cli/context.js';
import { runCommand } from '../../src/cli/dispatch.js';
import type { Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { applyLayer } from '../../src/layer/apply.js';
import { exportRootfs, unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { listTar } from '../../src/tar/index.js';
import { copy } from '../../src/transport/open.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';
import { failure } from '../support/errors.js';
import { captureIO, makeImage, removeDir, tempDir } from '../support/images.js';
import { listTree, treeManifest } from './tree-manifest.js';

let work: string;
let store: Store;

beforeEach(async () => {
  work = await tempDir('cairn-unpack-');
  store = await Store.open(path.join(work, 'store'));
});

afterEach(async () => {
  await removeDir(work);
});

/** Runs a command module as the CLI does (cli/dispatch), with output captured. */
async function cli(cmd: Command, argv: string[], tty = false): Promise<{ status: number; out: string; err: string }> {
  const io = captureIO();
  if (tty) Object.assign(io.stdout, { isTTY: true });
  const status = await runCommand('test', cmd, { globalArgs: ['--store', store.root], name: 'test', args: argv }, io);
  return { status, out: io.out(), err: io.err() };
}

describe('unpack', () => {
  it('unpacks a store image and reports each layer with its verified diffID', async () => {
    const img = await makeImage(store, { layers: [{ 'etc/motd': 'hi\n', 'bin/sh': 'sh' }, { 'etc/motd': 'bye\n' }], tag: 'two:1' });
    const seen: number[] = [];
    const result = await unpack(store, 'two:1', path.join(work, 'rootfs'), { onLayer: (l) => seen.push(l.index) });
    expect(result.layers.map((l) => l.diffId)).toEqual(img.diffIds);
    expect(seen).toEqual([1, 2]);
    expect(await readFile(path.join(work, 'rootfs/etc/motd'), 'utf8')).toBe('bye\n');
  });

  it('a diffID mismatch fails naming the layer, and removes the directory it created', async () => {
    await makeImage(store, {
      layers: [{ a: 'a' }, { b: 'b' }],
      tag: 'liar:1',
      diffIds: (real) => [real[0] as Digest, `sha256:${'0'.repeat(64)}` as Digest],
    });
    const target = path.join(work, 'rootfs');
    const err = await failure(unpack(store, 'liar:1', target));
    expect(isCairnError(err, 'digest-mismatch')).toBe(true);
    expect((err as Error).message).toMatch(/^layer 2 of 2 \(sha256:[0-9a-f]{64}\): .*diff_id is sha256:0{64}/);
    expect(await readdir(work)).not.toContain('rootfs');
    // An empty directory given by the user is emptied again, not removed.
    await mkdir(target);
    expect(isCairnError(await failure(unpack(store, 'liar:1', target)), 'digest-mismatch')).toBe(true);
    expect(await readdir(target)).toEqual([]);
  });

  it('needs a new or empty directory', async () => {
    await makeImage(store, { tag: 'one:1' });
    const target = path.join(work, 'full');
    await mkdir(target);
    await writeFile(path.join(target, 'x'), '');
    const err = await failure(unpack(store, 'one:1', target));
    expect(isCairnError(err, 'already-exists')).toBe(true);
    expect((err as Error).message).toContain('not empty');
    expect(await readdir(target)).toEqual(['x']);
    expect(isCairnError(await failure(unpack(store, 'one:1', path.join(target, 'x'))), 'already-exists')).toBe(true);
    expect(isCairnError(await failure(unpack(store, 'nope:1', path.join(work, 'r'))), 'not-found')).toBe(true);
  });

  it.skipIf(skipWithoutFixtures('busybox/oci-index:1'))('picks the platform of an index', async () => {
    const img = fixture('busybox/oci-index:1');
    await copy(`oci:${img.path}:${img.ref}`, 'multi:1', { store, all: true });
    const arm = await unpack(store, 'multi:1', path.join(work, 'arm'), { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const amd = await unpack(store, 'multi:1', path.join(work, 'amd'), { platform: { os: 'linux', architecture: 'amd64' } });
    expect([arm.layers.length, amd.layers.length]).toEqual([3, 1]);
  });
});

describe('exportRootfs', () => {
  it('flattens the layers into one deterministic tar that re-applies to the unpacked tree', async () => {
    await makeImage(store, { layers: [{ 'a/x': 'x', 'a/y': 'y', 'b/z': 'z' }, { 'a/x': 'new x', 'c/w': 'w' }], tag: 'flat:1' });
    const outs = [path.join(work, 'one.tar'), path.join(work, 'two.tar')];
    for (const out of outs) await exportRootfs(store, 'flat:1', createWriteStream(out));
    const [one, two] = await Promise.all(outs.map(async (o) => createHash('sha256').update(await readFile(o)).digest('hex')));
    expect(one).toBe(two);
    const names = (await listTar(createReadStream(outs[0] as string), { what: 'export' })).map((e) => e.path);
    expect(names).toEqual(['.', 'a', 'a/x', 'a/y', 'b', 'b/z', 'c', 'c/w']);
    const unpacked = path.join(work, 'unpacked');
    await unpack(store, 'flat:1', unpacked);
    const reapplied = path.join(work, 'reapplied');
    await mkdir(reapplied);
    await applyLayer(reapplied, createReadStream(outs[0] as string), { what: 'export' });
    expect(await treeManifest(reapplied, { mtimes: true })).toEqual(await treeManifest(unpacked, { mtimes: true }));
  });

  it.skipIf(skipWithoutFixtures('busybox/oci-umoci:3'))('has no whiteouts and keeps hardlinks and symlinks (busybox fixture)', async () => {
    const img = fixture('busybox/oci-umoci:3');
    await copy(`oci:${img.path}:${img.ref}`, 'bb:3', { store });
    const out = path.join(work, 'bb.tar');
    await exportRootfs(store, 'bb:3', createWriteStream(out));
    const entries = await listTar(createReadStream(out), { what: out });
    expect(entries.some((e) => e.path.split('/').some((p) => p.startsWith('.wh.')))).toBe(false);
    expect(entries.find((e) => e.path === 'bin/sed')).toBeUndefined(); // whited out in layer 2
    expect(entries.find((e) => e.path === 'data/b')).toMatchObject({ type: 'hardlink', linkname: 'data/a' });
    expect(entries.find((e) => e.path === 'data/link')).toMatchObject({ type: 'symlink', linkname: '../data/a' });
  });
});

describe('CLI', () => {
  it('cairn unpack IMAGE DIR', async () => {
    await makeImage(store, { files: { 'etc/motd': 'hi\n' }, tag: 'cli:1' });
    const r = await cli(unpackCommand as Command, ['cli:1', path.join(work, 'out')]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^Unpacked cli:1 \(1 layers, \d+ entries\) into /);
    expect(await listTree(path.join(work, 'out'))).toEqual(['etc/', 'etc/motd']);
    const again = await cli(unpackCommand as Command, ['cli:1', path.join(work, 'out')]);
    expect(again.status).toBe(1);
    expect(again.err).toContain('is not empty');
    expect((await cli(unpackCommand as Command, ['cli:1'])).status).toBe(2);
    expect((await cli(unpackCommand as Command, ['--platform', 'bogus', 'cli:1', path.join(work, 'p')])).status).toBe(2);
  });

  it('cairn export -o FILE IMAGE, and to stdout unless it is a terminal', async () => {
    await makeImage(store, { files: { 'etc/motd': 'hi\n' }, tag: 'cli:1' });
    const file = path.join(work, 'rootfs.tar');
    expect((await cli(exportCommand as Command, ['-o', file, 'cli:1'])).status).toBe(0);
    expect((await listTar(createReadStream(file), { what: file })).map((e) => e.path)).toEqual(['.', 'etc', 'etc/motd']);
    expect((await readdir(work)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const tty = await cli(exportCommand as Command, ['cli:1'], true);
    expect(tty.status).toBe(2);
    expect(tty.err).toContain('terminal');
    const missing = await cli(exportCommand as Command, ['-o', path.join(work, 'x.tar'), 'nope:1']);
    expect(missing.status).toBe(1);
    expect(await readdir(work)).not.toContain('x.tar');
  });

  it('export to a piped stdout writes the tar and leaves the stream open', async () => {
    await makeImage(store, { files: { f: 'f' }, tag: 'cli:1' });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await exportRootfs(store, 'cli:1', out, { end: false });
    expect(out.writableEnded).toBe(false);
    expect(Buffer.concat(chunks).length % 512).toBe(0);
  });
});
