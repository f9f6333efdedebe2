// cairn's containers against podman's (hermetic podman, runc, overlay):
// 1. `diff`: the same shell commands on the same busybox image, run in a podman container and
//    in a cairn container, give the same A/C/D lines (`podman diff` vs `containerChanges` and
//    `cairn diff`), minus podman's own files (/etc/hostname, /etc/hosts, /etc/mtab,
//    /etc/resolv.conf, /run/.containerenv ...) and the parent directories listed only because
//    of them. This pins docker's parent rule too: a file changed in place lists alone.
// 2. Images committed by cairn, saved as a docker archive, load into podman and run there.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeWebImage, WELCOME_PAGE } from '../../src/cli/demo/web-image.js';
import { containerChanges, findContainer } from '../../src/container/index.js';
import { formatChanges } from '../../src/diff/index.js';
import { fixture, skipWithoutFixtures, transportRef } from '../support/fixtures.js';
import { hermeticContainersEnv } from '../support/tools.js';
import { lines, newStore, skipWithoutContainers, teardown, type TestStore } from './harness.js';

const run = promisify(execFile);
const BUSYBOX3 = 'busybox/oci-umoci:3';

/** Files podman itself puts into every container (its init inodes and the runtime's). */
const PODMAN_OWN = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/mtab', '/run', '/run/.containerenv', '/run/secrets', '/dev', '/proc', '/sys']);

function parentOf(p: string): string {
  return p.slice(0, p.lastIndexOf('/')) || '/';
}

/** podman's lines without its own files, and without `C /dir` lines only its own files caused. */
function withoutPodmanArtifacts(podmanLines: readonly string[]): string[] {
  const kept = podmanLines.filter((l) => !PODMAN_OWN.has(l.slice(2)));
  // podman leaves its files out of `diff` itself, but not the `C /etc` they cause.
  const ownParents = new Set([...PODMAN_OWN].map(parentOf));
  return kept.filter((l) => {
    const p = l.slice(2);
    if (l[0] !== 'C' || !ownParents.has(p)) return true;
    // Still listed when one of our own additions or deletions sits directly inside it.
    return kept.some((o) => (o[0] === 'A' || o[0] === 'D') && parentOf(o.slice(2)) === p);
  });
}

/** cairn's order (component-wise byte order: a directory right before its contents). */
function sortLikeCairn(ls: readonly string[]): string[] {
  const key = (l: string): Buffer => {
    const b = Buffer.from(l.slice(2).replace(/^\//, ''));
    for (let i = 0; i < b.length; i++) if (b[i] === 0x2f) b[i] = 0;
    return b;
  };
  return [...ls].sort((a, b) => Buffer.compare(key(a), key(b)));
}

let work: string;
let env: Record<string, string | undefined>;
const podman = async (...args: string[]): Promise<string> => (await run('podman', args, { env, maxBuffer: 64 << 20 })).stdout;

describe.skipIf(skipWithoutContainers('podman', 'skopeo') || skipWithoutFixtures(BUSYBOX3))('cairn and podman', () => {
  let t: TestStore;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'cairn-ctr-podman-'));
    env = { ...process.env, ...hermeticContainersEnv(path.join(work, 'containers')) };
    for (const [name, ref] of [
      ['busybox/oci-umoci:1', 'localhost/cairn-ctr:1'],
      [BUSYBOX3, 'localhost/cairn-ctr:3'],
    ] as const) {
      const img = fixture(name);
      await run('skopeo', ['--tmpdir', env.TMPDIR ?? work, 'copy', '-q', transportRef(img), `containers-storage:${ref}`], { env });
    }
  }, 120_000);

  afterEach(async () => {
    await teardown();
  });

  afterAll(async () => {
    if (env) await podman('rm', '-af').catch(() => undefined);
    if (env) await podman('system', 'reset', '-f').catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  }, 60_000);

  /** Runs `script` in a podman container and in a cairn container of the same image. */
  async function both(name: string, podmanImage: string, cairnImage: string, script: string): Promise<{ podman: string[]; cairn: string[]; cli: string[] }> {
    await podman('run', '--name', name, podmanImage, 'sh', '-c', script);
    const fromPodman = sortLikeCairn(withoutPodmanArtifacts(lines(await podman('diff', name))));
    const r = await t.cli('run', '--name', name, cairnImage, 'sh', '-c', script);
    expect(r).toEqual({ status: 0, stdout: '', stderr: '' });
    const fromCairn = lines(formatChanges(await containerChanges(t.store, await findContainer(t.store, name))));
    const cli = await t.cli('diff', name);
    expect(cli.status).toBe(0);
    return { podman: fromPodman, cairn: fromCairn, cli: lines(cli.stdout) };
  }

  it('diff: edit, rm, mkdir + file, symlink, chmod — the same lines as podman diff', async () => {
    t = await newStore();
    const got = await both(
      'cairn-ctr-diff-a',
      'localhost/cairn-ctr:1',
      'busybox',
      'echo changed > /etc/motd; rm /bin/sed; mkdir /newdir; echo new > /newdir/file; ln -s /etc/motd /root/motd-link; chmod 600 /etc/passwd',
    );
    const expected = ['C /bin', 'D /bin/sed', 'C /etc/motd', 'C /etc/passwd', 'A /newdir', 'A /newdir/file', 'C /root', 'A /root/motd-link'];
    expect(got.podman).toEqual(expected);
    expect(got.cairn).toEqual(expected);
    expect(got.cli).toEqual(expected);
  }, 60_000);

  it('diff: a deleted directory subtree is one D; a file changed in place lists alone (no parent C)', async () => {
    t = await newStore();
    const cp = await t.cli('copy', '-q', transportRef(fixture(BUSYBOX3)), 'busybox:3');
    expect(cp.status).toBe(0);
    // busybox:3 has /data (a file, a hardlink, a symlink) and /newdir/file (from its layer 2).
    const got = await both('cairn-ctr-diff-b', 'localhost/cairn-ctr:3', 'busybox:3', 'rm -rf /data; echo more >> /newdir/file');
    const expected = ['D /data', 'C /newdir/file'];
    expect(got.podman).toEqual(expected);
    expect(got.cairn).toEqual(expected);
    expect(got.cli).toEqual(expected);
  }, 60_000);

  it('images committed by cairn, saved as a docker archive, load and run in podman', async () => {
    t = await newStore();
    await makeWebImage(t.store, 'busybox', 'web');
    expect((await t.cli('run', '-d', '--name', 'webserver', 'web')).status).toBe(0);
    const exec = await t.cli('exec', 'webserver', 'sh', '-c', "echo '<h1>Hello, Docker!</h1>' > /usr/share/nginx/html/index.html");
    expect(exec.status).toBe(0);
    const commit = await t.cli('commit', '--author', 'A <a@b>', '--message', 'changed the default page', 'webserver', 'web:v2');
    expect(commit.status).toBe(0);
    expect((await t.cli('rm', '-f', 'webserver')).status).toBe(0);

    const archive = path.join(t.dir, 'web.tar');
    const save = await t.cli('save', '-o', archive, 'web:latest', 'web:v2');
    expect(save.stderr).toBe('');
    expect(save.status).toBe(0);
    await podman('load', '-q', '-i', archive);

    const page = await podman('run', '--rm', 'web:v2', 'cat', '/usr/share/nginx/html/index.html');
    expect(page).toBe('<h1>Hello, Docker!</h1>\n');
    expect(await podman('run', '--rm', 'web:latest', 'cat', '/usr/share/nginx/html/index.html')).toBe(WELCOME_PAGE);
    // The same image: podman computes the same image ID from the config, and keeps the comment.
    const id = (await podman('image', 'inspect', '--format', '{{.Id}}', 'web:v2')).trim();
    expect(`sha256:${id}`).toBe(commit.stdout.trim());
    const comments = lines(await podman('history', '--format', '{{.Comment}}', 'web:v2'));
    expect(comments[0]).toBe('changed the default page');
    // And its CMD runs there: httpd is a link to busybox made by cairn's file API.
    expect(await podman('run', '--rm', 'web:v2', 'sh', '-c', 'ls -l /bin/httpd | sed "s/.*-> //"')).toBe('busybox\n');
  }, 90_000);
});
