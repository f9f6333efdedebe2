// Live check against `podman diff` (hermetic podman, runc, native overlay diff): containers from
// the busybox fixture make known changes; podman's list equals cairn's, computed two ways:
// diffOverlayUpper on the container's own upper directory against the image's union view (from
// layer indexes), and diffDirectories between the unpacked image and `podman export` of the
// container. Differences are the documented ones (spec-notes/changesets.md): podman lists every
// copied-up non-directory as C even when nothing changed, lists an opaque directory as D, and
// podman's own files (/etc/hostname, /etc/hosts, /etc/mtab, /run/.containerenv ...) are left out
// by podman and by this test.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatChanges, type Change } from '../../src/diff/change.js';
import { diffDirectories } from '../../src/diff/directories.js';
import { diffOverlayUpper } from '../../src/diff/overlay.js';
import { resolveImage } from '../../src/image/resolve.js';
import { unpack } from '../../src/layer/unpack.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { UnionView } from '../../src/union/view.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';
import { hermeticContainersEnv, skipWithoutTools } from '../support/tools.js';

const run = promisify(execFile);
const IMAGE = 'busybox/oci-umoci:1';
const REF = 'localhost/cairn-diff-test:1';
/** Files podman itself puts in a container (its `initInodes` and what its runtime creates). */
const PODMAN_OWN = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/mtab', '/run', '/run/.containerenv', '/run/secrets', '/dev', '/proc', '/sys'];
const own = (line: string): boolean => PODMAN_OWN.includes(line.slice(2));
const lines = (changes: readonly Change[]): string[] => formatChanges(changes).trimEnd().split('\n').filter((l) => l !== '' && !own(l));

let work: string;
let env: Record<string, string | undefined>;
let store: Store;
let view: UnionView;
let rootfs: string;
const podman = async (...args: string[]): Promise<string> => (await run('podman', args, { env, maxBuffer: 64 << 20 })).stdout;

describe.skipIf(process.getuid?.() !== 0 || skipWithoutTools('podman', 'skopeo', 'runc') || skipWithoutFixtures(IMAGE))('podman diff (live)', () => {
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cairn-diff-podman-'));
    env = { ...process.env, ...hermeticContainersEnv(path.join(work, 'containers')) };
    const img = fixture(IMAGE);
    await run('skopeo', ['--tmpdir', env.TMPDIR ?? work, 'copy', '-q', `oci:${img.path}:${img.ref}`, `containers-storage:${REF}`], { env });
    store = await Store.open(path.join(work, 'store'));
    await copy(`oci:${img.path}:${img.ref}`, 'busybox:1', { store });
    const image = await resolveImage(store, 'busybox:1');
    view = await UnionView.open(store, image);
    rootfs = path.join(work, 'rootfs');
    await unpack(store, 'busybox:1', rootfs);
  }, 120_000);

  afterAll(async () => {
    if (env) await podman('rm', '-af').catch(() => undefined);
    if (env) await podman('system', 'reset', '-f').catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }, 60_000);

  /** Runs a container, returns podman's diff (sorted as cairn sorts) and cairn's two diffs of it. */
  async function container(name: string, script: string): Promise<{ podman: string[]; upper: string[]; exported: string[] }> {
    await podman('run', '--name', name, REF, 'sh', '-c', script);
    const fromPodman = (await podman('diff', name)).trimEnd().split('\n').filter((l) => l !== '' && !own(l));
    const upperDir = (await podman('inspect', '--format', '{{.GraphDriver.Data.UpperDir}}', name)).trim();
    const upper = lines(await diffOverlayUpper(upperDir, view));
    const exportedDir = path.join(work, `${name}-export`);
    await mkdir(exportedDir);
    await run('sh', ['-c', `podman export "$1" | tar -x --numeric-owner -C "$2"`, 'sh', name, exportedDir], { env });
    const exported = lines(await diffDirectories(rootfs, exportedDir));
    // podman prints in its walk order (a parent C it adds late comes after its children): sort.
    const sorted = lines(fromPodman.map((l) => ({ kind: l[0] as Change['kind'], path: l.slice(2) })).sort((a, b) => Buffer.compare(key(a.path), key(b.path))));
    return { podman: sorted, upper, exported };
  }

  it('edits, deletions, additions, a rename, a chmod, a symlink, a hardlink: the same lines', async () => {
    const got = await container(
      'cairn-diff-a',
      'echo changed > /etc/motd; rm /bin/sed; mkdir -p /newdir/sub; echo new > /newdir/sub/file; chmod 700 /tmp; mv /bin/wc /bin/wc2; ln -s /etc/motd /root/motd; ln /etc/passwd /etc/passwd2; touch /etc/group',
    );
    const expected = [
      'C /bin',
      'D /bin/sed',
      'D /bin/wc',
      'A /bin/wc2',
      'C /etc',
      'C /etc/group',
      'C /etc/motd',
      'A /etc/passwd2',
      'A /newdir',
      'A /newdir/sub',
      'A /newdir/sub/file',
      'C /root',
      'A /root/motd',
      'C /tmp',
    ];
    expect(got.upper).toEqual(expected);
    expect(got.exported).toEqual(expected);
    // podman also lists /etc/passwd, copied up by `ln` but unchanged (it lists every copied-up file).
    expect(got.podman).toEqual([...expected.slice(0, 7), 'C /etc/passwd', ...expected.slice(7)]);
  }, 120_000);

  it('a directory removed and made again (opaque in the upper): podman says D /bin, cairn C /bin and D for each old entry', async () => {
    const got = await container('cairn-diff-b', 'cp /bin/busybox /busybox && rm -rf /bin && /busybox mkdir /bin && /busybox ln -s /busybox /bin/sh && /busybox ln -s /busybox /bin/ls');
    const oldBin = view.readdir('/bin').filter((n) => n !== 'sh' && n !== 'ls');
    const expected = ['C /bin', ...[...oldBin.map((n) => `D /bin/${n}`), 'C /bin/ls', 'C /bin/sh'].sort((a, b) => Buffer.compare(key(a.slice(2)), key(b.slice(2)))), 'A /busybox', 'C /etc'];
    expect(got.upper).toEqual(expected);
    expect(got.exported).toEqual(expected);
    expect(got.podman).toEqual(['D /bin', 'C /bin/ls', 'C /bin/sh', 'A /busybox', 'C /etc']); // C /etc: podman's own files
  }, 120_000);
});

function key(p: string): Buffer {
  const b = Buffer.from(p.replace(/^\//, ''));
  for (let i = 0; i < b.length; i++) if (b[i] === 0x2f) b[i] = 0;
  return b;
}
