// Faults and bad input, through the CLI: a commit while the container writes (the commit pauses
// it: the layer is one consistent snapshot, and the container runs on afterwards); two commits
// of one container at once; exec into a stopped container; `-p` on a host port already taken;
// a command missing from the image; a name already in use; `rm` of a running container; and a
// supervisor killed with SIGKILL (of a kept container, and of a `run -d --rm` one). Each gives a clear error or a correct result, leaves nothing
// running, and `fsck` stays clean.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { containerDirs, findContainer } from '../../src/container/index.js';
import { pauseWhile } from '../../src/container/pause.js';
import { resolveImage } from '../../src/image/resolve.js';
import { processStartTime } from '../../src/runtime/proc.js';
import type { Store } from '../../src/store/store.js';
import { decompressStream, tarEntries } from '../../src/tar/index.js';
import { httpGet } from '../support/http.js';
import { freePort, holdPort, isListening } from '../support/ports.js';
import { CAIRN_BIN, lines, mountsUnder, newStore, skipWithoutContainers, stateOf, tableRows, teardown, trackPort, type TestStore } from './harness.js';

afterEach(teardown);

/** The files of an image's top layer: path → content. */
async function topLayerFiles(store: Store, ref: string): Promise<Map<string, string>> {
  const image = await resolveImage(store, ref);
  const layer = image.manifest.layers.at(-1);
  if (!layer) throw new Error(`${ref} has no layers`);
  const { stream } = await decompressStream(await store.blobs.open(layer.digest), { what: layer.digest });
  const files = new Map<string, string>();
  for await (const { entry, body } of tarEntries(stream, { what: layer.digest })) {
    const chunks: Buffer[] = [];
    for await (const chunk of body as Readable) chunks.push(chunk as Buffer);
    const content = Buffer.concat(chunks);
    expect(content.length).toBe(entry.size); // the header and the data agree
    files.set(entry.path, content.toString('utf8'));
  }
  return files;
}

/** runc's view of a container: its status (running, paused, stopped), or null when runc has none. */
function runcStatus(t: TestStore, id: string): string | null {
  const root = path.join(containerDirs(t.store, id).dir, 'runtime');
  const r = spawnSync('runc', ['--root', root, 'state', id], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return (JSON.parse(r.stdout) as { status: string }).status;
}

async function fsckClean(t: TestStore): Promise<void> {
  const r = await t.cli('fsck');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

const LINE = 'a line long enough that writing it is more than nothing';
// Appends numbered lines, one write each, and starts over every 2000: at any instant /f is
// lines 1..k, each whole. A snapshot taken while the writer runs must be such a file, with the
// tar header's size matching its data; reading it unpaused could catch it mid-append.
const WRITER = `while true; do i=0; : > /f; while [ $i -lt 2000 ]; do i=$((i+1)); echo "${LINE} $i" >> /f; done; done`;

function expectConsistent(content: string | undefined): number {
  expect(content).toBeDefined();
  const got = (content ?? '').split('\n');
  expect(got.pop()).toBe(''); // ends with a whole line (or is empty)
  expect(got).toEqual(got.map((_, i) => `${LINE} ${i + 1}`));
  return got.length;
}

/**
 * Whether `pid` is a live process. A zombie is not: `kill -0` succeeds on one, and an orphaned
 * supervisor that has exited stays a zombie until pid 1 reaps it (about a second in this VM).
 */
async function running(pid: number): Promise<boolean> {
  return pid > 0 && (await processStartTime(pid)) !== null;
}

describe.skipIf(skipWithoutContainers())('containers: faults and bad input', () => {
  it('commit while the container writes: each layer has a consistent /f, and the container runs on', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'writer', 'busybox', 'sh', '-c', WRITER);
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    await new Promise((r) => setTimeout(r, 200));
    const counts: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = await t.cli('commit', 'writer', `snap:${i}`);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      counts.push(expectConsistent((await topLayerFiles(t.store, `snap:${i}`)).get('f')));
      expect(runcStatus(t, id)).toBe('running'); // resumed, not left paused
    }
    expect(counts.some((k) => k > 0)).toBe(true);
    // Still writing after the commits.
    const moving = await t.cli('exec', 'writer', 'sh', '-c', 'for n in 1 2 3 4 5; do cat /f | wc -l; sleep 0.1; done');
    expect(moving.status).toBe(0);
    expect(new Set(lines(moving.stdout)).size).toBeGreaterThan(1);
    await fsckClean(t);
  });

  it('two commits of one container at once both succeed, with consistent layers; fsck is clean', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', WRITER);
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    await new Promise((r) => setTimeout(r, 200));
    const [a, b] = await Promise.all([t.cli('commit', 'busy', 'twice:a'), t.cli('commit', 'busy', 'twice:b')]);
    expect([a.status, a.stderr, b.status, b.stderr]).toEqual([0, '', 0, '']);
    expect(a.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(b.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    for (const ref of ['twice:a', 'twice:b']) expectConsistent((await topLayerFiles(t.store, ref)).get('f'));
    expect(runcStatus(t, id)).toBe('running');
    await fsckClean(t);
  });

  it('overlapping pauses of one container: the second waits, and each finds the container frozen throughout', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'frozen', 'busybox', 'sleep', '60');
    const id = run.stdout.trim();
    const record = await findContainer(t.store, 'frozen');
    const seen: string[] = [];
    const hold = (label: string, ms: number) => async (): Promise<void> => {
      seen.push(`${label} start ${runcStatus(t, id)}`);
      await new Promise((r) => setTimeout(r, ms));
      seen.push(`${label} end ${runcStatus(t, id)}`);
    };
    const first = pauseWhile(t.store, record, hold('first', 300));
    await new Promise((r) => setTimeout(r, 100));
    // Still inside its pause when the first resumes the container at ~300 ms.
    const second = pauseWhile(t.store, record, hold('second', 400));
    await Promise.all([first, second]);
    expect(seen).toEqual(['first start paused', 'first end paused', 'second start paused', 'second end paused']);
    expect(runcStatus(t, id)).toBe('running');
  });

  it('exec into a stopped container: a clear conflict, a non-zero status', async () => {
    const t = await newStore();
    expect((await t.cli('run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '30')).status).toBe(0);
    expect((await t.cli('stop', '-t', '0', 'sleeper')).status).toBe(0);
    const r = await t.cli('exec', 'sleeper', 'true');
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('Error: container sleeper is not running\n');
    const kill = await t.cli('kill', 'sleeper');
    expect(kill.status).not.toBe(0);
    expect(kill.stderr).toBe('Error: container sleeper is not running\n');
    // A container that was only created is not running either.
    expect((await t.cli('create', '--name', 'fresh', 'busybox')).status).toBe(0);
    const created = await t.cli('exec', 'fresh', 'true');
    expect(created.status).not.toBe(0);
    expect(created.stderr).toBe('Error: container fresh is not running\n');
  });

  it('exec of a command missing from the image: status 127 and the reason', async () => {
    const t = await newStore();
    expect((await t.cli('run', '-d', '--name', 'host', 'busybox', 'sleep', '30')).status).toBe(0);
    const r = await t.cli('exec', 'host', 'nosuchcmd');
    expect(r.status).toBe(127);
    expect(r.stderr).toMatch(/^Error: .*executable file not found/);
    expect(await t.cli('exec', 'host', 'sh', '-c', 'exit 3')).toMatchObject({ status: 3 });
  });

  it('-p on a host port already taken: an error naming the port, nothing left running', async () => {
    const t = await newStore();
    const held = await holdPort();
    try {
      const r = await t.cli('run', '-d', '--name', 'clash', '-p', `${held.port}:80`, 'busybox', 'busybox', 'httpd', '-f', '-p', '80');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^Error: cannot publish port ${held.port}: .*:${held.port} is already in use\\n$`));
      expect(lines((await t.cli('ps')).stdout)).toHaveLength(1); // nothing running
      const record = await findContainer(t.store, 'clash');
      expect(await mountsUnder(containerDirs(t.store, record.id).dir)).toEqual([]);
      // The listener that held the port is untouched, and the port stays ours.
      expect(await isListening(held.port)).toBe(true);
      expect((await t.cli('rm', 'clash')).status).toBe(0);
    } finally {
      await held.release();
    }
    await fsckClean(t);
  });

  it('a command that does not exist in the image: exit 127 and "executable file not found"', async () => {
    const t = await newStore();
    const r = await t.cli('run', '--name', 'nocmd', 'busybox', 'nosuchcmd');
    expect(r.status).toBe(127);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error: .*"nosuchcmd": executable file not found in \$PATH\n$/);
    const row = tableRows((await t.cli('ps', '-a')).stdout).find((cols) => cols.at(-1) === 'nocmd');
    expect(row?.[4]).toMatch(/^Exited \(127\)/);
    // Detached, the same error, and nothing keeps running.
    const d = await t.cli('run', '-d', '--name', 'nocmd-d', 'busybox', 'nosuchcmd');
    expect(d.status).not.toBe(0);
    expect(d.stderr).toMatch(/executable file not found/);
    expect(lines((await t.cli('ps')).stdout)).toHaveLength(1);
  });

  it('--name already in use: a clear conflict, and the first container is untouched', async () => {
    const t = await newStore();
    const first = await t.cli('run', '-d', '--name', 'dup', 'busybox', 'sleep', '30');
    expect(first.status).toBe(0);
    const second = await t.cli('run', '-d', '--name', 'dup', 'busybox', 'sleep', '30');
    expect(second.status).not.toBe(0);
    expect(second.stderr).toBe('Error: the container name "dup" is already in use; remove that container or choose another name\n');
    const again = await t.cli('create', '--name', 'dup', 'busybox');
    expect(again.status).not.toBe(0);
    expect(lines((await t.cli('ps', '-a', '-q', '--no-trunc')).stdout)).toEqual([first.stdout.trim()]);
    expect(tableRows((await t.cli('ps')).stdout)[1]?.[4]).toMatch(/^Up /);
    const bad = await t.cli('create', '--name', 'no/slash', 'busybox');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/container name "no\/slash"/);
  });

  it("rmi of an image containers use: refused as docker refuses it, and the container runs on whatever rmi did", async () => {
    const t = await newStore();
    const imageId = (await t.cli('inspect', '--format', '{{.Id}}', 'busybox')).stdout.trim();
    const short = imageId.slice('sha256:'.length, 'sha256:'.length + 12);
    const stopped = (await t.cli('create', '--name', 'made', 'busybox', 'true')).stdout.trim().slice(0, 12);

    // The last tag: refused without -f. Another tag of the same image may go.
    expect(await t.cli('rmi', 'busybox')).toEqual({
      status: 1,
      stdout: '',
      stderr: `Error: conflict: unable to remove repository reference "busybox" (must force) - container ${stopped} is using its referenced image ${short}\n`,
    });
    expect((await t.cli('tag', 'busybox', 'other:1')).status).toBe(0);
    expect(await t.cli('rmi', 'other:1')).toEqual({ status: 0, stdout: 'Untagged: other:1\n', stderr: '' });

    // By ID, while only a stopped container uses it: refused without -f.
    expect(await t.cli('rmi', short)).toEqual({
      status: 1,
      stdout: '',
      stderr: `Error: conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${stopped}\n`,
    });

    // While a container runs, not even -f deletes it by ID.
    const alive = (await t.cli('run', '-d', '--name', 'alive', 'busybox', 'sleep', '30')).stdout.trim().slice(0, 12);
    expect(await t.cli('rmi', '-f', short)).toEqual({
      status: 1,
      stdout: '',
      stderr: `Error: conflict: unable to delete ${short} (cannot be forced) - image is being used by running container ${alive}\n`,
    });

    // -f on the last tag: untagged, and the image stays as <none> (no Deleted line).
    expect(await t.cli('rmi', '-f', 'busybox')).toEqual({ status: 0, stdout: 'Untagged: busybox:latest\n', stderr: '' });
    expect(tableRows((await t.cli('images')).stdout).slice(1).map((row) => row.slice(0, 3))).toEqual([['<none>', '<none>', short]]);
    expect((await t.cli('exec', 'alive', 'true')).status).toBe(0);
    expect(await t.cli('rm', '-f', 'alive')).toMatchObject({ status: 0 });

    // With only the stopped container left, -f deletes the image by ID; the container still starts, and gc keeps what it needs.
    expect(await t.cli('rmi', '-f', short)).toEqual({ status: 0, stdout: `Deleted: ${imageId}\n`, stderr: '' });
    expect(lines((await t.cli('images', '-q')).stdout)).toEqual([]);
    expect((await t.cli('gc')).status).toBe(0);
    expect(await t.cli('start', '-a', 'made')).toMatchObject({ status: 0 });
    await fsckClean(t);
  });

  it('rm of a running container: refused without -f, done with -f (process, supervisor, mount gone)', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'alive', 'busybox', 'sleep', '30');
    const id = run.stdout.trim();
    const state = await stateOf(t, id);
    const r = await t.cli('rm', 'alive');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toBe('Error: container alive is running: stop it first, or use rm -f\n');
    expect(runcStatus(t, id)).toBe('running');
    expect(await t.cli('rm', '-f', 'alive')).toEqual({ status: 0, stdout: 'alive\n', stderr: '' });
    expect(lines((await t.cli('ps', '-a')).stdout)).toHaveLength(1);
    expect(await mountsUnder(t.root)).toEqual([]);
    for (const pid of [state.supervisor.pid, state.pid?.pid ?? 0]) expect(await running(pid)).toBe(false);
    await fsckClean(t);
  });

  it('a supervisor killed with SIGKILL: ps -a shows the container exited, nothing is left running, the store is intact', async () => {
    const t = await newStore();
    const port = trackPort(await freePort());
    const run = await t.cli('run', '-d', '--name', 'orphan', '-p', `${port}:80`, 'busybox', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    expect((await httpGet(port, { path: '/motd' })).status).toBe(200);
    const state = await stateOf(t, id);
    expect(state.status).toBe('running');
    process.kill(state.supervisor.pid, 'SIGKILL');

    let row: string[] | undefined;
    for (let i = 0; i < 100; i++) {
      row = tableRows((await t.cli('ps', '-a')).stdout).find((cols) => cols.at(-1) === 'orphan');
      if (row?.[4]?.startsWith('Exited')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(row?.[4]).toMatch(/^Exited \(137\)/);
    expect(lines((await t.cli('ps')).stdout)).toHaveLength(1);
    expect(runcStatus(t, id)).toBeNull();
    expect(await running(state.pid?.pid ?? 0)).toBe(false);
    expect(await isListening(port)).toBe(false);
    await fsckClean(t);
    // It can be started again, and removed without -f once stopped.
    const start = await t.cli('start', 'orphan');
    expect(start.status).toBe(0);
    expect((await httpGet(port, { path: '/motd' })).status).toBe(200);
    expect((await t.cli('stop', '-t', '0', 'orphan')).status).toBe(0);
    expect(await t.cli('rm', 'orphan')).toEqual({ status: 0, stdout: 'orphan\n', stderr: '' });
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('a run -d --rm whose supervisor is killed with SIGKILL: its watchdog removes it, with no later command', async () => {
    const t = await newStore();
    const port = trackPort(await freePort());
    const run = await t.cli('run', '-d', '--rm', '--name', 'doomed', '-p', `${port}:80`, 'busybox', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    expect([run.status, run.stderr]).toEqual([0, '']);
    const id = run.stdout.trim();
    expect((await httpGet(port, { path: '/motd' })).status).toBe(200);
    const state = await stateOf(t, id);
    expect(await mountsUnder(t.root)).toEqual([path.join(containerDirs(t.store, id).dir, 'rootfs')]);
    process.kill(state.supervisor.pid, 'SIGKILL');

    // No cairn command runs until the directory is gone: the watchdog alone removed it.
    const containers = path.join(t.root, 'cairn', 'containers');
    for (let i = 0; i < 200 && existsSync(containerDirs(t.store, id).dir); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(containerDirs(t.store, id).dir)).toBe(false);
    expect(await mountsUnder(t.root)).toEqual([]);
    expect(spawnSync('kill', ['-0', String(state.pid?.pid)]).status).not.toBe(0);
    expect(await isListening(port)).toBe(false);
    // Removed whole: nothing left beside it either (the hidden directory it was moved to).
    for (let i = 0; i < 100 && (await readdir(containers)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(containers)).toEqual([]);
    expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);
    await fsckClean(t);
    // The name is free again.
    expect((await t.cli('create', '--name', 'doomed', 'busybox')).status).toBe(0);
  });

  it('a commit killed with SIGKILL while the container is paused: the container runs on at once, with no later command', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'frozen', 'busybox', 'sleep', '60');
    expect(run.status).toBe(0);
    const id = run.stdout.trim();
    // A big upper keeps the commit, and so the pause, long enough to be caught.
    expect((await t.cli('exec', 'frozen', 'busybox', 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1M', 'count=96')).status).toBe(0);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const commit = spawn(process.execPath, [CAIRN_BIN, '--store', t.root, 'commit', 'frozen', 'killed:1'], { env, stdio: 'ignore' });
    const ended = new Promise((resolve) => commit.once('close', resolve));
    let caught = false;
    for (let i = 0; i < 2000 && commit.exitCode === null && !caught; i++) {
      caught = runcStatus(t, id) === 'paused';
      if (!caught) await new Promise((r) => setTimeout(r, 5));
    }
    expect(caught).toBe(true);
    commit.kill('SIGKILL');
    await ended;
    let status = runcStatus(t, id);
    for (let i = 0; i < 100 && status !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = runcStatus(t, id);
    }
    expect(status).toBe('running');
    expect(await t.cli('exec', 'frozen', 'echo', 'alive')).toEqual({ status: 0, stdout: 'alive\n', stderr: '' });
    // The killed commit tagged nothing; a new one works.
    expect(lines((await t.cli('images', '-q', 'killed')).stdout)).toEqual([]);
    expect((await t.cli('commit', 'frozen', 'killed:2')).status).toBe(0);
    expect(runcStatus(t, id)).toBe('running');
    await fsckClean(t);
  });

  it('a stale freeze (paused, with no pause holding it): the next commit adopts it and thaws the container', async () => {
    const t = await newStore();
    const run = await t.cli('run', '-d', '--name', 'stale', 'busybox', 'sleep', '60');
    const id = run.stdout.trim();
    const root = path.join(containerDirs(t.store, id).dir, 'runtime');
    expect(spawnSync('runc', ['--root', root, 'pause', id]).status).toBe(0);
    expect(runcStatus(t, id)).toBe('paused');
    const r = await t.cli('commit', 'stale', 'thawed:1');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(runcStatus(t, id)).toBe('running');
  });
});
