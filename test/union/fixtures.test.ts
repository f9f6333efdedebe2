// The union view and `ls`/`cat`/`layers` on the real fixture images, against the tools:
// the merged tree of each image equals `umoci unpack`'s rootfs (paths, types, modes, owners,
// sizes, contents, link targets, hardlinks, xattrs, mtimes); `cairn ls -R` prints what
// `LC_ALL=C ls -RA1` prints there, `cairn ls -l` agrees with `ls -ln`, `cairn cat` gives every
// file's bytes; `cairn layers` numbers equal `sha256sum`, `gzip -dc | wc -c` and `tar -t`.
// umoci 0.4.7 cannot read zstd layers: the zstd image is compared with umoci's unpack of the
// gzip image holding the same diffIDs.
import { execFile } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveImage } from '../../src/image/resolve.js';
import type { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { UnionView, type UnionStat } from '../../src/union/view.js';
import { cairn, cairnBytes } from '../support/cli.js';
import { fixture, skipWithoutFixtures, type FixtureImage } from '../support/fixtures.js';
import { removeDir, tempStore } from '../support/images.js';
import { skipWithoutTools } from '../support/tools.js';
import { treeManifest, type TreeRecord } from '../layer/tree-manifest.js';

const run = promisify(execFile);
const sh = async (script: string): Promise<string> => (await run('sh', ['-c', script], { maxBuffer: 64 << 20 })).stdout;

const IMAGES = ['busybox/oci-umoci:1', 'busybox/oci-umoci:2', 'busybox/oci-umoci:3', 'busybox/oci-zstd:3', 'busybox/oci-uncompressed:3'];
const STAND_IN: Readonly<Record<string, string>> = { 'busybox/oci-zstd:3': 'busybox/oci-umoci:3' };

const TYPE: Record<UnionStat['type'], TreeRecord['type']> = { file: 'file', directory: 'dir', symlink: 'symlink', char: 'char', block: 'block', fifo: 'fifo' };

/** The view in treeManifest's terms. */
function records(view: UnionView): TreeRecord[] {
  const out: TreeRecord[] = [];
  const add = (p: string, s: UnionStat): void => {
    const rec: TreeRecord = { path: p, type: TYPE[s.type], mode: s.type === 'symlink' ? '-' : s.mode.toString(8), owner: `${s.uid}:${s.gid}` };
    if (s.type !== 'directory') rec.size = s.size;
    if (s.sha256) rec.sha256 = s.sha256.slice(7);
    if (s.linkname !== undefined) rec.link = s.linkname;
    if (Object.keys(s.xattrs).length > 0) rec.xattrs = Object.fromEntries(Object.entries(s.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    if (s.type !== 'symlink') rec.mtime = s.mtime.getTime();
    if (s.type === 'file') rec.links = s.nlink;
    out.push(rec);
  };
  add('.', view.lstat('/'));
  for (const { path: p, stat } of view.walk()) add(p, stat);
  return out;
}

let work: string;
let storeDir: string;
let store: Store;
const rootfs = new Map<string, string>();

describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('umoci', 'zstd') || skipWithoutFixtures(...IMAGES))('union view and ls/cat/layers on the fixtures', () => {
  beforeAll(async () => {
    ({ dir: work, store } = await tempStore('cairn-union-fixtures-', { subdir: 'store' }));
    storeDir = store.root;
    for (const name of IMAGES) {
      const img = fixture(name);
      await copy(`oci:${img.path}:${img.ref}`, tagOf(name), { store });
      const reference = fixture(STAND_IN[name] ?? name);
      expect(reference.diffIds).toEqual(img.diffIds);
      if (!rootfs.has(reference.name)) rootfs.set(reference.name, await umociRootfs(reference));
    }
  }, 120_000);
  afterAll(() => removeDir(work));

  const tagOf = (name: string): string => `fixtures/${name.replace(/[^a-z0-9]+/g, '-')}:t`;
  const rootfsOf = (name: string): string => rootfs.get(STAND_IN[name] ?? name) as string;

  async function umociRootfs(img: FixtureImage): Promise<string> {
    const layout = path.join(work, `layout-${img.name.replace(/\W+/g, '-')}`);
    await cp(img.path, layout, { recursive: true });
    const bundle = path.join(work, `bundle-${img.name.replace(/\W+/g, '-')}`);
    await run('umoci', ['--log', 'error', 'unpack', '--image', `${layout}:${img.ref}`, bundle], { maxBuffer: 16 << 20 });
    return path.join(bundle, 'rootfs');
  }

  it.each(IMAGES)('%s: the merged tree equals umoci unpack', async (name) => {
    const view = await UnionView.open(store, await resolveImage(store, tagOf(name)));
    const expected = await treeManifest(rootfsOf(name), { mtimes: true });
    const root = expected.find((r) => r.path === '.');
    if (root) delete root.mtime; // umoci stamps the rootfs directory itself when it makes it
    const mine = records(view);
    delete mine[0]?.mtime;
    expect(mine).toEqual(expected);
  });

  it('the fixtures hold the cases the view must get right', async () => {
    const v3 = await UnionView.open(store, await resolveImage(store, tagOf('busybox/oci-umoci:3')));
    const v2 = await UnionView.open(store, await resolveImage(store, tagOf('busybox/oci-umoci:2')));
    const v1 = await UnionView.open(store, await resolveImage(store, tagOf('busybox/oci-umoci:1')));
    expect(v1.exists('/bin/sed', false)).toBe(true);
    expect(v2.exists('/bin/sed', false)).toBe(false); // whiteout
    expect(v3.lstat('/data/b').nlink).toBe(2); // hardlink data/b -> data/a
    expect(v3.lstat('/data/link').type).toBe('symlink');
    expect(v3.stat('/tmp').origin).toBe(2); // opaque /tmp in the top layer
  });

  it.each(IMAGES)('%s: `ls -R` prints what `LC_ALL=C ls -RA1` prints', async (name) => {
    const mine = await cairn(storeDir, 'ls', tagOf(name), '.', '-R');
    expect(mine.status).toBe(0);
    const theirs = await sh(`cd '${rootfsOf(name)}' && LC_ALL=C ls -RA1 .`);
    expect(mine.stdout).toBe(theirs);
    const top = await cairn(storeDir, 'ls', tagOf(name));
    expect(top.stdout).toBe(await sh(`cd '${rootfsOf(name)}' && LC_ALL=C ls -A1 .`));
  });

  it('`ls -l` agrees with `ls -ln` (mode, links of non-directories, owner, size, UTC mtime, link target)', async () => {
    const name = 'busybox/oci-umoci:3';
    for (const dir of ['/', '/bin', '/data', '/etc', '/tmp']) {
      const mine = (await cairn(storeDir, 'ls', tagOf(name), dir, '-l')).stdout.trimEnd().split('\n');
      const theirs = (await sh(`cd '${rootfsOf(name)}${dir}' && TZ=UTC LC_ALL=C ls -lnA --time-style='+%Y-%m-%d %H:%M' .`)).trimEnd().split('\n').filter((l) => !l.startsWith('total'));
      expect(mine.length, dir).toBe(theirs.length);
      mine.forEach((line, i) => {
        const a = line.split(/\s+/);
        const b = (theirs[i] as string).split(/\s+/);
        const isDir = a[0]?.startsWith('d');
        expect([a[0], isDir ? '' : a[1], a[2], a[3], isDir ? '' : a[4], ...a.slice(5)], `${dir}: ${line}`).toEqual([b[0], isDir ? '' : b[1], b[2], b[3], isDir ? '' : b[4], ...b.slice(5)]);
      });
    }
    const one = (await cairn(storeDir, 'ls', tagOf(name), '/data/link', '-l')).stdout;
    expect(one).toMatch(/^l[rwx-]{9} 1 0 0 +\d+ \d{4}-\d\d-\d\d \d\d:\d\d \/data\/link -> /);
  });

  it.each(IMAGES)('%s: `cat` prints every file byte for byte', async (name) => {
    const files = (await treeManifest(rootfsOf(name))).filter((r) => r.type === 'file');
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const out = await cairnBytes(storeDir, 'cat', tagOf(name), `/${f.path}`);
      expect(out.status).toBe(0);
      expect(out.stdout.equals(await readFile(path.join(rootfsOf(name), f.path))), f.path).toBe(true);
    }
    // Through symlinks (absolute targets re-rooted), and several files at once.
    const motd = await readFile(path.join(rootfsOf(name), 'etc/motd'));
    const both = await cairnBytes(storeDir, 'cat', tagOf(name), '/etc/motd', 'etc/../etc/motd');
    expect(both.stdout.equals(Buffer.concat([motd, motd]))).toBe(true);
  });

  it('`cat` of a directory or a missing path fails clearly', async () => {
    const cat = (p: string) => cairn(storeDir, 'cat', tagOf('busybox/oci-umoci:3'), p);
    expect(await cat('/etc')).toEqual({ status: 2, stdout: '', stderr: 'Error: /etc: is a directory\n' });
    expect(await cat('/nope')).toEqual({ status: 1, stdout: '', stderr: 'Error: /nope: no such file or directory\n' });
  });

  it.each(IMAGES)('%s: `layers --json` numbers equal sha256sum, decompressed byte counts and tar -t', async (name) => {
    const img = fixture(name);
    const rows = JSON.parse((await cairn(storeDir, 'layers', tagOf(name), '--json')).stdout) as {
      digest: string; diffId: string; size: number; uncompressedSize: number; entries: number; compression: string; createdBy: string;
    }[];
    expect(rows.map((r) => r.digest)).toEqual(img.layers);
    for (const row of rows) {
      const blob = path.join(img.path, 'blobs/sha256', row.digest.slice(7));
      const cat = row.compression === 'gzip' ? `gzip -dc '${blob}'` : row.compression === 'zstd' ? `zstd -dc '${blob}'` : `cat '${blob}'`;
      expect(row.digest).toBe(`sha256:${(await sh(`sha256sum '${blob}'`)).split(' ')[0]}`);
      expect(row.diffId).toBe(`sha256:${(await sh(`${cat} | sha256sum`)).split(' ')[0]}`);
      expect(row.size).toBe(Number(await sh(`stat -c %s '${blob}'`)));
      expect(row.uncompressedSize).toBe(Number(await sh(`${cat} | wc -c`)));
      expect(row.entries).toBe(Number(await sh(`${cat} | tar -t 2>/dev/null | wc -l`)));
    }
    expect(rows.map((r) => r.diffId)).toEqual(img.diffIds);
  });

  it('`layers` prints a table with short digests and the history step', async () => {
    const out = (await cairn(storeDir, 'layers', tagOf('busybox/oci-umoci:3'))).stdout.split('\n');
    expect(out[0]).toMatch(/^#\s+DIGEST\s+DIFF ID\s+SIZE\s+UNCOMPRESSED\s+ENTRIES\s+CREATED BY$/);
    expect(out[1]).toMatch(/^0\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s+\S+B\s+\S+B\s+\d+/);
    expect(out.filter((l) => l !== '').length).toBe(4);
    const full = (await cairn(storeDir, 'layers', tagOf('busybox/oci-umoci:3'), '--no-trunc')).stdout;
    expect(full).toContain(fixture('busybox/oci-umoci:3').layers[2]);
  });
});
