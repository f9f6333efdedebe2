// The walk-through of issue 4 end to end, through the CLI as a user types it: a web image made
// with the library from busybox; `run -d -p` serves its welcome page; `exec` changes the page
// (and `exec -it` works on a real terminal); `diff` shows the change; `commit` makes web:v2;
// `images`, `history`; a second server from web:v2 on another port while the first still
// serves; `ps`, `logs [-f]`, `stop -t`, `rm`; `fsck` clean at the end. Ports are free ones, not
// 8080/8081. The steps share one store and run in order; every container, mount, supervisor
// and port is gone after the last (teardown checks, and fails the file if not).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWebImage, WEB_CMD, WELCOME_PAGE } from '../../src/cli/demo/web-image.js';
import { containerChanges, findContainer } from '../../src/container/index.js';
import { formatChanges } from '../../src/diff/index.js';
import { resolveImage } from '../../src/image/resolve.js';
import { httpGet } from '../support/http.js';
import { freePorts, isListening } from '../support/ports.js';
import { skipWithoutTools } from '../support/tools.js';
import { CAIRN_BIN, lines, mountsUnder, newStore, skipWithoutContainers, tableRows, teardown, trackPort, type TestStore } from './harness.js';

const NEW_PAGE = '<h1>Hello, Docker!</h1>\n';
const CHANGE = "echo '<h1>Hello, Docker!</h1>' > /usr/share/nginx/html/index.html";

describe.skipIf(skipWithoutContainers() || skipWithoutTools('script'))('the customise-an-image walk-through', () => {
  let t: TestStore;
  let p1: number;
  let p2: number;
  let webserverId = '';
  let web2Id = '';

  beforeAll(async () => {
    t = await newStore();
    const made = await makeWebImage(t.store, 'busybox', 'web');
    expect(made.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    [p1, p2] = (await freePorts(2)).map(trackPort) as [number, number];
  });

  afterAll(async () => {
    await teardown();
  });

  it('run --name webserver -d -p P1:80 web: prints the ID and serves the welcome page', async () => {
    const r = await t.cli('run', '--name', 'webserver', '-d', '-p', `${p1}:80`, 'web');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    webserverId = r.stdout.trim();
    expect(await httpGet(p1)).toMatchObject({ status: 200, body: WELCOME_PAGE });
  });

  it('exec webserver sh -c "echo ... > index.html": the next GET returns the new page', async () => {
    const r = await t.cli('exec', 'webserver', 'sh', '-c', CHANGE);
    expect(r).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(await httpGet(p1)).toMatchObject({ status: 200, body: NEW_PAGE });
  });

  it('exec -it webserver sh works on a real terminal (util-linux script gives it a pty)', async () => {
    // The shell's output differs from its input, so the echo of the typed line proves nothing.
    const command = `${process.execPath} ${CAIRN_BIN} --store ${t.root} exec -it webserver sh`;
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => chunks.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ status: code, output: Buffer.concat(chunks).toString('utf8') });
      });
      child.stdin.end('tty; echo "hi-from-$(echo tty)"; exit\n');
    });
    expect(output).toContain('hi-from-tty');
    expect(output).toMatch(/\/dev\/pts\/\d+/);
    expect(status).toBe(0);
  });

  it("the container's changes are docker's one line for a file changed in place", async () => {
    const record = await findContainer(t.store, 'webserver');
    // docker and podman (overlay upper) list a file modified in place alone: its copied-up
    // parents did not change (no entry added or removed in them, times kept by the copy-up).
    // test/container/podman.test.ts checks that rule against `podman diff`.
    expect(formatChanges(await containerChanges(t.store, record))).toBe('C /usr/share/nginx/html/index.html\n');
  });

  it('cairn diff webserver prints the same line', async () => {
    const r = await t.cli('diff', 'webserver');
    expect(r.stderr).toBe('');
    expect(r).toEqual({ status: 0, stdout: 'C /usr/share/nginx/html/index.html\n', stderr: '' });
  });

  it('commit --author --message webserver web:v2 prints sha256:<config digest of web:v2>', async () => {
    const r = await t.cli('commit', '--author', 'A <a@b>', '--message', 'changed the default page', 'webserver', 'web:v2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const v2 = await resolveImage(t.store, 'web:v2');
    expect(r.stdout.trim()).toBe(v2.manifest.config.digest);
    expect(r.stdout.trim()).toBe(v2.id);
    const latest = await resolveImage(t.store, 'web:latest');
    expect(v2.manifest.layers.slice(0, -1)).toEqual(latest.manifest.layers);
    expect(v2.manifest.layers).toHaveLength(latest.manifest.layers.length + 1);
    const inspect = JSON.parse((await t.cli('inspect', 'web:v2')).stdout) as [{ Author: string; Comment: string; Config: { Cmd: string[] } }];
    expect(inspect[0]).toMatchObject({ Author: 'A <a@b>', Comment: 'changed the default page', Config: { Cmd: [...WEB_CMD] } });
  });

  it('images web lists latest and v2', async () => {
    const r = await t.cli('images', 'web');
    expect(r.status).toBe(0);
    const rows = tableRows(r.stdout);
    expect(rows[0]?.slice(0, 3)).toEqual(['REPOSITORY', 'TAG', 'IMAGE ID']);
    const v2 = await resolveImage(t.store, 'web:v2');
    const latest = await resolveImage(t.store, 'web:latest');
    expect(rows.slice(1).map((row) => row.slice(0, 3)).sort()).toEqual(
      [
        ['web', 'latest', latest.id.slice(7, 19)],
        ['web', 'v2', v2.id.slice(7, 19)],
      ].sort(),
    );
  });

  it('history web:v2: the top row is the new layer with its size and the comment', async () => {
    const v2 = await resolveImage(t.store, 'web:v2');
    const layer = v2.manifest.layers.at(-1);
    const json = JSON.parse((await t.cli('history', '--json', 'web:v2')).stdout) as { id: string; createdBy: string; size: number; comment: string; emptyLayer: boolean }[];
    expect(json[0]).toEqual({ id: v2.id, created: expect.any(String), createdBy: WEB_CMD.join(' '), size: layer?.size, comment: 'changed the default page', emptyLayer: false });
    expect(layer?.size).toBeGreaterThan(0);
    const r = await t.cli('history', 'web:v2');
    expect(r.status).toBe(0);
    const rows = tableRows(r.stdout);
    expect(rows[0]).toEqual(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    expect(rows[1]).toEqual([v2.id.slice(7, 19), expect.stringMatching(/ago$/), WEB_CMD.join(' '), expect.stringMatching(/^[1-9][\d.]*k?B$/), 'changed the default page']);
    // The layers below belong to images of their own or to none: docker's <missing>.
    expect(rows.slice(2).map((row) => row[0])).toEqual(rows.slice(2).map(() => '<missing>'));
  });

  it('run --name web2 -d -p P2:80 web:v2 serves the new page while webserver still serves on P1', async () => {
    const r = await t.cli('run', '--name', 'web2', '-d', '-p', `${p2}:80`, 'web:v2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    web2Id = r.stdout.trim();
    const [a, b] = await Promise.all([httpGet(p2), httpGet(p1)]);
    expect(a).toMatchObject({ status: 200, body: NEW_PAGE });
    expect(b).toMatchObject({ status: 200, body: NEW_PAGE });
  });

  it('ps lists both running with their ports; ps -a -q their short IDs', async () => {
    const r = await t.cli('ps');
    expect(r.status).toBe(0);
    const rows = tableRows(r.stdout);
    expect(rows[0]).toEqual(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']);
    expect(rows.slice(1)).toEqual([
      [web2Id.slice(0, 12), 'web:v2', '"httpd -f -p 80 -h /…"', expect.stringMatching(/ago$/), expect.stringMatching(/^Up /), `0.0.0.0:${p2}->80/tcp`, 'web2'],
      [webserverId.slice(0, 12), 'web', '"httpd -f -p 80 -h /…"', expect.stringMatching(/ago$/), expect.stringMatching(/^Up /), `0.0.0.0:${p1}->80/tcp`, 'webserver'],
    ]);
    const q = await t.cli('ps', '-a', '-q');
    expect(lines(q.stdout).sort()).toEqual([web2Id.slice(0, 12), webserverId.slice(0, 12)].sort());
  });

  it('logs: httpd -f writes nothing; a talking container is logged, and logs -f ends when it exits', async () => {
    expect(await t.cli('logs', 'webserver')).toEqual({ status: 0, stdout: '', stderr: '' });
    const run = await t.cli('run', '--name', 'talker', '-d', 'busybox', 'sh', '-c', 'echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three');
    expect(run.status).toBe(0);
    const started = Date.now();
    const follow = await t.cli('logs', '-f', 'talker');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(follow).toEqual({ status: 0, stdout: 'one\nthree\n', stderr: 'two\n' });
    expect(await t.cli('logs', 'talker')).toEqual({ status: 0, stdout: 'one\nthree\n', stderr: 'two\n' });
    expect(await t.cli('logs', '--tail', '1', 'talker')).toEqual({ status: 0, stdout: 'three\n', stderr: '' });
    const ps = tableRows((await t.cli('ps', '-a')).stdout).find((row) => row.at(-1) === 'talker');
    expect(ps?.[4]).toMatch(/^Exited \(0\) /);
  });

  it('stop -t 1 stops both (httpd ignores SIGTERM as pid 1: SIGKILL after 1 s); ps -a shows them Exited', async () => {
    const started = Date.now();
    const r = await t.cli('stop', '-t', '1', 'webserver', 'web2');
    expect(r).toEqual({ status: 0, stdout: 'webserver\nweb2\n', stderr: '' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(await isListening(p1)).toBe(false);
    expect(await isListening(p2)).toBe(false);
    expect(lines((await t.cli('ps')).stdout)).toHaveLength(1); // the header alone
    const rows = tableRows((await t.cli('ps', '-a')).stdout).slice(1);
    const status = Object.fromEntries(rows.map((row) => [row.at(-1), row[4]]));
    expect(status).toEqual({ webserver: expect.stringMatching(/^Exited \(137\) /), web2: expect.stringMatching(/^Exited \(137\) /), talker: expect.stringMatching(/^Exited \(0\) /) });
    // stop unmounts the root filesystems
    expect((await mountsUnder(t.root)).filter((m) => m.includes(webserverId) || m.includes(web2Id))).toEqual([]);
  });

  it('rm removes them; ps -a is empty, nothing is mounted, and fsck is clean', async () => {
    expect(await t.cli('rm', 'webserver', 'web2', 'talker')).toEqual({ status: 0, stdout: 'webserver\nweb2\ntalker\n', stderr: '' });
    expect(lines((await t.cli('ps', '-a')).stdout)).toHaveLength(1);
    expect(await mountsUnder(t.dir)).toEqual([]);
    const fsck = await t.cli('fsck');
    expect(fsck.stderr).toBe('');
    expect(fsck.status).toBe(0);
    expect(fsck.stdout).toMatch(/: ok\n$/);
    // The images stay: web:v2 is a real image now.
    expect(lines((await t.cli('images', 'web')).stdout)).toHaveLength(3);
  });
});
