// Interop: `cairn unpack` gives the tree `umoci unpack` gives (rootfs/ of its bundle), for every
// busybox fixture image: paths, types, modes, owners, sizes, content sha256, link targets,
// hardlinks, device numbers, xattrs and mtimes. umoci writes into the layout it reads (a lock,
// sometimes blobs), so it gets a private copy. umoci 0.4.7 cannot read zstd layers: the zstd
// image is compared with umoci's unpack of the gzip image holding the same diffIDs.
import { execFile } from 'node:child_process';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendLayer, scratchImage, writeImage } from '../../src/image/draft.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { BUSYBOX_LAYOUT_IMAGES, fixture, skipWithoutFixtures, type FixtureImage } from '../support/fixtures.js';
import { device, dir, fifo, file, hostileTar, link, symlink } from '../support/hostile-tar.js';
import { removeDir, tempDir } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';
import { treeManifest } from './tree-manifest.js';

const run = promisify(execFile);

const IMAGES = BUSYBOX_LAYOUT_IMAGES;

/** The image umoci unpacks in place of one it cannot read. */
const UMOCI_STAND_IN: Readonly<Record<string, string>> = { 'busybox/oci-zstd:3': 'busybox/oci-umoci:3' };

let work: string;

beforeEach(async () => {
  work = await tempDir('cairn-umoci-');
});

afterEach(async () => {
  await removeDir(work);
});

/** `umoci unpack` of a private copy of the image's layout; returns its rootfs. */
async function umociRootfs(img: FixtureImage, name: string): Promise<string> {
  const layout = path.join(work, `layout-${name}`);
  await cp(img.path, layout, { recursive: true });
  const bundle = path.join(work, `bundle-${name}`);
  await run('umoci', ['--log', 'error', 'unpack', '--image', `${layout}:${img.ref}`, bundle], { maxBuffer: 16 << 20 });
  return path.join(bundle, 'rootfs');
}

async function cairnRootfs(img: FixtureImage): Promise<string> {
  const store = await Store.open(path.join(work, 'store'));
  await copy(`oci:${img.path}:${img.ref}`, 'fixture:test', { store });
  const rootfs = path.join(work, 'cairn-rootfs');
  const { warnings } = await unpack(store, 'fixture:test', rootfs);
  expect(warnings).toEqual([]);
  return rootfs;
}

describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('umoci') || skipWithoutFixtures(...IMAGES))('cairn unpack = umoci unpack', () => {
  it.each(IMAGES)('%s', async (name) => {
    const img = fixture(name);
    const reference = fixture(UMOCI_STAND_IN[name] ?? name);
    expect(reference.diffIds).toEqual(img.diffIds);
    const ours = await treeManifest(await cairnRootfs(img), { mtimes: true });
    const theirs = await treeManifest(await umociRootfs(reference, 'ref'), { mtimes: true });
    expect(ours.length).toBeGreaterThan(10);
    expect(ours).toEqual(theirs);
  });

  // Opt-in (CAIRN_FIXTURES_DEBIAN=1): ~6,600 entries, setuid binaries, a second layer with whiteouts.
  it.for(['debian/oci-umoci:bookworm', 'debian/oci-umoci:bookworm-v2'])('%s', { timeout: 300_000 }, async (name, ctx) => {
    const img = fixture(name, ctx);
    const ours = await treeManifest(await cairnRootfs(img), { mtimes: true });
    const theirs = await treeManifest(await umociRootfs(img, 'ref'), { mtimes: true });
    expect(ours.length).toBeGreaterThan(5000);
    expect(ours).toEqual(theirs);
  });
});

/** A vfs_cap_data v2 value granting cap_net_raw (13), effective. */
const CAP_NET_RAW = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** Two layers with what the busybox fixtures lack: devices, fifos, xattrs, setuid, owners, type changes, opaque dirs. */
function edgeLayers(): Buffer[] {
  const t = (s: number): { mtime: number } => ({ mtime: 1_600_000_000 + s });
  const lower = hostileTar([
    dir('etc', 0o755, { ...t(1), xattrs: { 'user.etc': Buffer.from('1') } }),
    file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n', 0o644, t(2)),
    dir('usr', 0o755, t(3)),
    dir('usr/bin', 0o755, t(4)),
    file('usr/bin/su', 'su', 0o4755, t(5)),
    link('usr/bin/su2', 'usr/bin/su'),
    file('usr/bin/wall', 'wall', 0o2755, { gid: 5, ...t(6) }),
    file('usr/bin/ping', 'ping', 0o755, { ...t(7), xattrs: { 'security.capability': CAP_NET_RAW, 'user.note': Buffer.from('x') } }),
    file('usr/bin/trusted', 't', 0o755, { ...t(8), xattrs: { 'trusted.cairn': Buffer.from([0, 1, 2]) } }),
    symlink('bin', 'usr/bin', t(9)),
    dir('tmp', 0o1777, t(10)),
    dir('home', 0o755, t(11)),
    dir('home/user', 0o700, { uid: 1000, gid: 1000, ...t(12) }),
    file('home/user/.profile', 'PS1=$ ', 0o600, { uid: 1000, gid: 1000, ...t(13) }),
    symlink('home/user/link', '../../etc/passwd', { uid: 1000, gid: 1000, ...t(14) }),
    dir('dev', 0o755, t(15)),
    device('dev/null', 'char', 1, 3, 0o666),
    device('dev/sda', 'block', 8, 0, 0o660),
    dir('run', 0o755, t(16)),
    fifo('run/fifo', 0o600),
    dir('opq', 0o755, t(17)),
    file('opq/a', 'a', 0o644, t(18)),
    dir('opq/b', 0o755, t(19)),
    file('opq/b/c', 'c', 0o644, t(20)),
    dir('late', 0o755, t(21)),
    file('late/lower', 'lower', 0o644, t(22)),
    dir('wh', 0o755, t(23)),
    file('wh/x', 'x', 0o644, t(24)),
    file('wh/y', 'y', 0o644, t(25)),
    file('replaceme', 'file', 0o644, t(26)),
    dir('replacedir', 0o755, t(27)),
    file('replacedir/inner', 'i', 0o644, t(28)),
  ]);
  const upper = hostileTar([
    dir('etc', 0o711, { ...t(101), xattrs: { 'user.etc': Buffer.from('2'), 'user.more': Buffer.from('m') } }),
    file('bin/newtool', 'new', 0o755, t(102)),
    dir('opq', 0o750, t(103)),
    file('opq/.wh..wh..opq', ''),
    file('opq/new', 'new', 0o644, t(104)),
    dir('late', 0o755, t(105)),
    file('late/keep', 'keep', 0o644, t(106)),
    file('late/.wh..wh..opq', ''),
    file('wh/.wh.x', ''),
    file('usr/bin/.wh.su2', ''),
    dir('replaceme', 0o700, t(107)),
    file('replaceme/inner', 'inner', 0o644, t(108)),
    file('replacedir', 'now a file', 0o600, t(109)),
    file('home/user/.profile', 'PS1=# ', 0o640, { uid: 1000, gid: 100, ...t(110) }),
  ]);
  return [lower, upper];
}

describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('umoci'))('cairn unpack = umoci unpack (synthetic edge cases)', () => {
  it('devices, fifo, xattrs, setuid/setgid/sticky, owners, hardlinks, type changes, opaque dirs, symlinked parents', async () => {
    const store = await Store.open(path.join(work, 'store'));
    const descriptor = await store.ingest(async () => {
      let draft = scratchImage(new Date('2024-01-01T00:00:00Z'));
      for (const tar of edgeLayers()) draft = await appendLayer(store, draft, Readable.from([tar]));
      return writeImage(store, draft, { created: new Date('2024-01-01T00:00:00Z') });
    });
    await store.setTag('edge:1', descriptor);
    const layout = path.join(work, 'edge-layout');
    await copy('edge:1', `oci:${layout}:edge`, { store });
    const rootfs = path.join(work, 'cairn-rootfs');
    const { warnings } = await unpack(store, 'edge:1', rootfs);
    expect(warnings).toEqual([]);
    const bundle = path.join(work, 'edge-bundle');
    await run('umoci', ['--log', 'error', 'unpack', '--image', `${layout}:edge`, bundle]);
    const ours = await treeManifest(rootfs, { mtimes: true });
    expect(ours).toEqual(await treeManifest(path.join(bundle, 'rootfs'), { mtimes: true }));
    // A few facts the comparison relies on, so both tools cannot be wrong the same way unseen.
    const byPath = new Map(ours.map((r) => [r.path, r]));
    expect(byPath.get('usr/bin/su')?.mode).toBe('4755');
    expect(byPath.get('usr/bin/newtool')?.type).toBe('file');
    expect(byPath.get('bin')?.type).toBe('symlink');
    expect(byPath.get('dev/null')?.type).toBe('char');
    expect(byPath.get('usr/bin/ping')?.xattrs?.['security.capability']).toBe(CAP_NET_RAW.toString('base64'));
    expect(byPath.get('etc')?.xattrs).toEqual({ 'user.etc': 'Mg==', 'user.more': 'bQ==' });
    expect([...byPath.keys()].filter((p) => p.startsWith('opq/') || p.startsWith('late/') || p.startsWith('wh/'))).toEqual([
      'late/keep',
      'opq/new',
      'wh/y',
    ]);
    expect(byPath.has('usr/bin/su2')).toBe(false);
    expect(byPath.get('replacedir')?.type).toBe('file');
    expect(byPath.get('replaceme/inner')?.sha256).toBeDefined();
  });
});
