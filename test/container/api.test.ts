// The programmatic API without any runtime: a container's files changed from code (write,
// mkdir, rm, symlink, chmod, chown), then `containerChanges` (docker's A/C/D) and
// `commitContainer`. The committed image unpacks to the expected tree (contents, modes, owners,
// the symlink); its new layer holds exactly the changes (its tar entries, read back from the
// blob) and is deterministic (the same `now` gives the same layer and image). Overlay mode (the
// default as root) and copy mode must agree. Nothing here starts a process in a container.
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chmodInContainer,
  chownInContainer,
  commitContainer,
  containerChanges,
  containerDirs,
  copyIntoContainer,
  createContainer,
  makeContainerDir,
  mountRootfs,
  readContainerFile,
  removeContainer,
  removeContainerPath,
  symlinkInContainer,
  unmountRootfs,
  writeContainerFile,
  type ContainerRecord,
  type RootfsMode,
} from '../../src/container/index.js';
import type { Digest } from '../../src/digest/index.js';
import { diffImages, formatChanges } from '../../src/diff/index.js';
import { appendLayer, draftOf, writeImage } from '../../src/image/draft.js';
import { resolveImage } from '../../src/image/resolve.js';
import { unpack } from '../../src/layer/unpack.js';
import type { Store } from '../../src/store/store.js';
import { decompressStream, listTar, packTar, type TarEntry } from '../../src/tar/index.js';
import { skipWithoutFixtures } from '../support/fixtures.js';
import { inCI } from '../support/tools.js';
import { BUSYBOX, lines, mountsUnder, newStore, teardown } from './harness.js';

afterEach(teardown);

const NOW = new Date('2025-03-04T05:06:07.089Z');

function needsRoot(): boolean {
  if (process.getuid?.() === 0) return false;
  if (inCI) throw new Error('the container API tests need root (overlay mounts) — tests cannot be skipped in CI');
  console.warn('skipping: the container API tests need root (overlay mounts)');
  return true;
}

/** The changes every test below makes, through the API only. */
async function change(store: Store, c: ContainerRecord): Promise<void> {
  await writeContainerFile(store, c, '/etc/motd', 'changed through the API\n');
  await makeContainerDir(store, c, '/newdir');
  await writeContainerFile(store, c, '/newdir/file', 'new\n', { mode: 0o640, uid: 1000, gid: 1001 });
  await makeContainerDir(store, c, '/opt/deep/er', { recursive: true, mode: 0o750 });
  await removeContainerPath(store, c, '/bin/sed');
  await removeContainerPath(store, c, '/root', { recursive: true });
  await symlinkInContainer(store, c, '../etc/motd', '/newdir/link');
  await chmodInContainer(store, c, '/etc/passwd', 0o600);
  await chownInContainer(store, c, '/etc/group', 1, 2);
}

const EXPECTED = [
  'C /bin',
  'D /bin/sed',
  'C /etc/group',
  'C /etc/motd',
  'C /etc/passwd',
  'A /newdir',
  'A /newdir/file',
  'A /newdir/link',
  'A /opt',
  'A /opt/deep',
  'A /opt/deep/er',
  'D /root',
];

/** The entries of an image's top layer, read back from its blob. */
async function topLayerEntries(store: Store, ref: string): Promise<{ digest: Digest; entries: TarEntry[] }> {
  const image = await resolveImage(store, ref);
  const layer = image.manifest.layers.at(-1);
  if (!layer) throw new Error(`${ref} has no layers`);
  const { stream } = await decompressStream(await store.blobs.open(layer.digest), { what: layer.digest });
  return { digest: layer.digest, entries: await listTar(stream, { what: layer.digest }) };
}

const shape = (e: TarEntry): string => {
  const owner = `${e.uid}:${e.gid}`;
  const mode = (e.mode & 0o7777).toString(8).padStart(4, '0');
  return `${e.type} ${e.path} ${mode} ${owner}${e.linkname !== undefined ? ` -> ${e.linkname}` : ''}${e.type === 'file' ? ` ${e.size}` : ''}`;
};

describe.skipIf(needsRoot() || skipWithoutFixtures(BUSYBOX))('containers from code, no runtime', () => {
  for (const mode of ['overlay', 'copy'] as const satisfies readonly RootfsMode[]) {
    it(`${mode}: write, mkdir, rm, symlink, chmod, chown → docker's changes, a commit that unpacks to them, a layer of exactly them`, async () => {
      const t = await newStore();
      const c = await createContainer(t.store, { image: 'busybox', name: `api-${mode}`, rootfs: mode });
      expect(c.rootfs).toBe(mode);
      await change(t.store, c);
      expect((await readContainerFile(t.store, c, '/newdir/link')).toString()).toBe('changed through the API\n');

      expect(lines(formatChanges(await containerChanges(t.store, c)))).toEqual(EXPECTED);
      // No process ran: no runtime state.
      expect(existsSync(path.join(containerDirs(t.store, c.id).dir, 'state.json'))).toBe(false);

      const first = await commitContainer(t.store, c, { reference: 'api:1', author: 'A <a@b>', message: 'from code', now: NOW });
      const image = await resolveImage(t.store, 'api:1');
      expect(first.id).toBe(image.id);
      expect(first.descriptor.digest).toBe(image.descriptor.digest);

      // The layer: exactly the changes, with whiteouts for the deletions. An unchanged parent
      // of a change (etc/) may come along, unchanged: overlay mode writes it as docker's layers
      // do (the upper holds it), copy mode leaves it out (the lower layers have it).
      const { digest, entries } = await topLayerEntries(t.store, 'api:1');
      expect(first.layer.digest).toBe(digest);
      expect(entries.map(shape)).toEqual([
        'file .wh.root 0000 0:0 0',
        'directory bin 0755 0:0',
        'file bin/.wh.sed 0000 0:0 0',
        ...(mode === 'overlay' ? ['directory etc 0755 0:0'] : []),
        'file etc/group 0644 1:2 27',
        'file etc/motd 0644 0:0 24',
        'file etc/passwd 0600 0:0 82',
        'directory newdir 0755 0:0',
        'file newdir/file 0640 1000:1001 4',
        'symlink newdir/link 0777 0:0 -> ../etc/motd',
        'directory opt 0750 0:0',
        'directory opt/deep 0750 0:0',
        'directory opt/deep/er 0750 0:0',
      ]);

      // Deterministic: the same container committed again at the same time gives the same bytes.
      const again = await commitContainer(t.store, c, { reference: 'api:again', author: 'A <a@b>', message: 'from code', now: NOW });
      expect(again.descriptor.digest).toBe(first.descriptor.digest);
      expect((await topLayerEntries(t.store, 'api:again')).digest).toBe(digest);

      // The committed image, unpacked, is busybox with the changes.
      const out = path.join(t.dir, 'unpacked');
      await unpack(t.store, 'api:1', out);
      expect(await readFile(path.join(out, 'etc/motd'), 'utf8')).toBe('changed through the API\n');
      const file = await lstat(path.join(out, 'newdir/file'));
      expect({ mode: file.mode & 0o7777, uid: file.uid, gid: file.gid }).toEqual({ mode: 0o640, uid: 1000, gid: 1001 });
      expect(await readFile(path.join(out, 'newdir/file'), 'utf8')).toBe('new\n');
      expect(await readlink(path.join(out, 'newdir/link'))).toBe('../etc/motd');
      expect((await lstat(path.join(out, 'etc/passwd'))).mode & 0o7777).toBe(0o600);
      const group = await lstat(path.join(out, 'etc/group'));
      expect([group.uid, group.gid]).toEqual([1, 2]);
      expect((await lstat(path.join(out, 'opt/deep/er'))).isDirectory()).toBe(true);
      expect(existsSync(path.join(out, 'bin/sed'))).toBe(false);
      expect(existsSync(path.join(out, 'root'))).toBe(false);
      expect((await lstat(path.join(out, 'bin/busybox'))).isFile()).toBe(true);
      // No runtime mount point leaked into the image from the container's init layer.
      expect(existsSync(path.join(out, 'dev'))).toBe(true); // busybox has /dev itself
      const history = await t.cli('history', '--json', 'api:1');
      expect((JSON.parse(history.stdout) as { comment: string }[])[0]?.comment).toBe('from code');

      // A container of the committed image has no changes of its own.
      const child = await createContainer(t.store, { image: 'api:1', rootfs: mode });
      expect(lines(formatChanges(await containerChanges(t.store, child)))).toEqual([]);

      await removeContainer(t.store, c);
      await removeContainer(t.store, child);
      expect(await mountsUnder(t.root)).toEqual([]);
      expect(existsSync(containerDirs(t.store, c.id).dir)).toBe(false);
      expect((await t.cli('fsck')).status).toBe(0);
    });
  }

  it('the file API stays inside the root: absolute symlinks and .. are resolved in the container', async () => {
    const t = await newStore();
    const c = await createContainer(t.store, { image: 'busybox', name: 'scoped' });
    // An absolute link target names a path in the container, never the host's.
    const outside = path.join('/tmp', `cairn-escape-${path.basename(t.dir)}`);
    await symlinkInContainer(t.store, c, outside, '/escape');
    await writeContainerFile(t.store, c, '/escape', 'stays inside\n');
    expect(existsSync(outside)).toBe(false);
    expect((await readContainerFile(t.store, c, outside)).toString()).toBe('stays inside\n');
    // A relative target climbing above the root stops at the root.
    await symlinkInContainer(t.store, c, '../../../../../../etc/cairn-escape-test', '/climb');
    await writeContainerFile(t.store, c, '/climb', 'inside too\n');
    await writeContainerFile(t.store, c, '/../../../../etc/cairn-escape-test2', 'inside as well\n');
    expect(existsSync('/etc/cairn-escape-test')).toBe(false);
    expect(existsSync('/etc/cairn-escape-test2')).toBe(false);
    expect((await readContainerFile(t.store, c, '/etc/cairn-escape-test')).toString()).toBe('inside too\n');
    expect((await readContainerFile(t.store, c, '/etc/cairn-escape-test2')).toString()).toBe('inside as well\n');
    expect(lines(formatChanges(await containerChanges(t.store, c)))).toEqual([
      'A /climb',
      'A /escape',
      'C /etc',
      'A /etc/cairn-escape-test',
      'A /etc/cairn-escape-test2',
      'C /tmp',
      `A ${outside}`,
    ]);
    await removeContainer(t.store, c);
  });

  it('a --rm container mounts volatile, and mounts again after an unmount (the kernel marks such an upper)', async () => {
    const t = await newStore();
    const c = await createContainer(t.store, { image: 'busybox', name: 'ephemeral', autoRemove: true });
    await writeContainerFile(t.store, c, '/kept', 'through a remount\n');
    const root = containerDirs(t.store, c.id).rootfs;
    const line = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === root);
    expect(line).toContain('volatile');
    // What a start after a killed `run --rm` does: the watchdog unmounted it, the record stayed.
    await unmountRootfs(t.store, c);
    expect(existsSync(path.join(containerDirs(t.store, c.id).work, 'work', 'incompat', 'volatile'))).toBe(true);
    await mountRootfs(t.store, c);
    expect((await readContainerFile(t.store, c, '/kept')).toString()).toBe('through a remount\n');
    await removeContainer(t.store, c);
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('cp into a container never writes through its symlinks to the host', async () => {
    const t = await newStore();
    const c = await createContainer(t.store, { image: 'busybox', name: 'cp-links' });
    // Host files a hostile container points its links at (absolute paths on the host).
    const hostFile = path.join(t.dir, 'host-file.txt');
    const hostDir = path.join(t.dir, 'host-dir');
    await writeFile(hostFile, 'host\n');
    await mkdir(hostDir);
    await makeContainerDir(t.store, c, '/opt/tree', { recursive: true });
    await symlinkInContainer(t.store, c, hostFile, '/opt/tree/file.txt');
    await symlinkInContainer(t.store, c, hostDir, '/opt/tree/sub');
    const src = path.join(t.dir, 'src', 'tree');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    await writeFile(path.join(src, 'file.txt'), 'from cp\n');
    await writeFile(path.join(src, 'sub', 'deep.txt'), 'deep\n');
    await copyIntoContainer(t.store, c, src, '/opt').catch(() => undefined); // an error is fine; an escape is not
    await copyIntoContainer(t.store, c, path.join(src, 'file.txt'), '/opt/tree/file.txt').catch(() => undefined);
    expect(await readFile(hostFile, 'utf8')).toBe('host\n');
    expect(await readdir(hostDir)).toEqual([]);
    await removeContainer(t.store, c);
  });

  it('copied-up directories whose times have milliseconds are not changes, and a commit keeps their times', async () => {
    // A layer whose directories carry millisecond times that `utimes` cannot set exactly
    // (found by trying: the time lands a microsecond below, …826.999 for …827).
    const t = await newStore();
    const probe = path.join(t.dir, 'probe');
    await writeFile(probe, '');
    let ms = Date.parse('2025-06-07T08:09:10.000Z');
    for (;;) {
      await utimes(probe, new Date(ms), new Date(ms));
      if (Math.trunc((await lstat(probe)).mtimeMs) !== ms) break;
      ms++;
    }
    const when = new Date(ms);
    const base = await resolveImage(t.store, 'busybox');
    await t.store.ingest(async () => {
      const draft = await appendLayer(
        t.store,
        await draftOf(t.store, base),
        packTar([
          { entry: { path: 'deep', type: 'directory', mtime: when } },
          { entry: { path: 'deep/sub', type: 'directory', mtime: when } },
          { entry: { path: 'deep/sub/file', type: 'file', mtime: when }, body: Buffer.from('one\n') },
        ]),
        { history: { created_by: 'a layer with millisecond times' } },
      );
      await t.store.setTag('deep:1', await writeImage(t.store, draft, { created: when }));
    });

    const c = await createContainer(t.store, { image: 'deep:1', name: 'deep' });
    await writeContainerFile(t.store, c, '/deep/sub/file', 'two\n'); // copies deep/ and deep/sub/ up
    expect(lines(formatChanges(await containerChanges(t.store, c)))).toEqual(['C /deep/sub/file']);

    await commitContainer(t.store, c, { reference: 'deep:2', now: NOW });
    const { entries } = await topLayerEntries(t.store, 'deep:2');
    expect(entries.map((e) => [e.path, e.mtime.toISOString()])).toEqual([
      ['deep', when.toISOString()],
      ['deep/sub', when.toISOString()],
      ['deep/sub/file', expect.any(String)],
    ]);
    // So the images differ by that file alone.
    const changes = await diffImages(t.store, await resolveImage(t.store, 'deep:1'), await resolveImage(t.store, 'deep:2'));
    expect(lines(formatChanges(changes))).toEqual(['C /deep/sub/file']);
    await removeContainer(t.store, c);
  });

  it('refuses a relative path, removing the root, and a directory without recursive', async () => {
    const t = await newStore();
    const c = await createContainer(t.store, { image: 'busybox', name: 'bad' });
    await expect(writeContainerFile(t.store, c, 'etc/motd', 'x')).rejects.toThrow(/must be absolute/);
    await expect(removeContainerPath(t.store, c, '/')).rejects.toThrow(/root directory/);
    await expect(removeContainerPath(t.store, c, '/etc')).rejects.toThrow(/is a directory: pass recursive/);
    expect(await containerChanges(t.store, c)).toEqual([]);
    await removeContainer(t.store, c);
  });

  it('commit reads only the upper: deleting an init-layer mount point the image lacks adds no whiteout, deleting one it has does', async () => {
    const t = await newStore();
    // An image without /proc: busybox with /proc deleted.
    const base = await createContainer(t.store, { image: 'busybox', name: 'no-proc' });
    await removeContainerPath(t.store, base, '/proc', { recursive: true });
    await commitContainer(t.store, base, { reference: 'noproc:1' });
    expect((await topLayerEntries(t.store, 'noproc:1')).entries.map((e) => e.path)).toEqual(['.wh.proc']);
    // Its container still sees /proc (the init layer's, so removing it works); delete it, and /sys (the image's).
    const c = await createContainer(t.store, { image: 'noproc:1', name: 'again' });
    await removeContainerPath(t.store, c, '/proc', { recursive: true });
    await removeContainerPath(t.store, c, '/sys', { recursive: true });
    const result = await commitContainer(t.store, c, { reference: 'noproc:2' });
    const { digest, entries } = await topLayerEntries(t.store, 'noproc:2');
    expect(result.layer.digest).toBe(digest);
    expect(entries.map((e) => e.path)).toEqual(['.wh.sys']);
    await removeContainer(t.store, c);
    await removeContainer(t.store, base);
  });
});
