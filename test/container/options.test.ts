// docker's container options through the CLI: `cp` both ways (files, directories, symlinks,
// into a running and a stopped container), `run --rm`, `-e`, `-w`, `-u`, `--entrypoint`,
// `--hostname`, `--network none|host`, `exec -e -w -u`, create → start → kill, and run by an
// intermediate image's ID.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, lstat, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtures } from '../support/fixtures.js';
import { lines, mountsUnder, newStore, skipWithoutContainers, tableRows, teardown } from './harness.js';

afterEach(teardown);

const ok = (stdout: string): { status: number; stdout: string; stderr: string } => ({ status: 0, stdout, stderr: '' });

describe.skipIf(skipWithoutContainers())('container options', () => {
  it('cp into a running container and out of it: files, directories, symlinks kept as links', async () => {
    const t = await newStore();
    expect((await t.cli('run', '-d', '--name', 'box', 'busybox', 'sleep', '60')).status).toBe(0);
    const host = path.join(t.dir, 'host');
    await mkdir(path.join(host, 'tree', 'sub'), { recursive: true });
    await writeFile(path.join(host, 'hello.txt'), 'hello from the host\n');
    await writeFile(path.join(host, 'tree', 'sub', 'deep.txt'), 'deep\n');

    // A file into an existing directory lands under its own name; a directory likewise.
    expect(await t.cli('cp', path.join(host, 'hello.txt'), 'box:/tmp')).toEqual(ok(''));
    expect(await t.cli('cp', path.join(host, 'tree'), 'box:/opt')).toMatchObject({ status: 0 }); // /opt does not exist: becomes /opt
    expect(await t.cli('exec', 'box', 'cat', '/tmp/hello.txt', '/opt/sub/deep.txt')).toEqual(ok('hello from the host\ndeep\n'));
    // A new name for a file.
    expect((await t.cli('cp', path.join(host, 'hello.txt'), 'box:/etc/renamed')).status).toBe(0);
    expect(await t.cli('exec', 'box', 'cat', '/etc/renamed')).toEqual(ok('hello from the host\n'));

    const out = path.join(t.dir, 'out');
    await mkdir(out);
    expect((await t.cli('cp', 'box:/etc/motd', out)).status).toBe(0);
    const motd = fixtures().set?.rootfs.busybox;
    expect(await readFile(path.join(out, 'motd'), 'utf8')).toBe(await readFile(path.join(motd ?? '', 'etc', 'motd'), 'utf8'));
    expect((await t.cli('cp', 'box:/bin/sh', path.join(out, 'sh'))).status).toBe(0);
    expect(await readlink(path.join(out, 'sh'))).toBe('busybox');
    expect((await t.cli('cp', 'box:/etc', path.join(out, 'etc-copy'))).status).toBe(0);
    expect((await readdir(path.join(out, 'etc-copy'))).sort()).toEqual(['group', 'motd', 'passwd', 'renamed']);
    // What the container wrote itself comes out too.
    expect((await t.cli('exec', 'box', 'sh', '-c', 'echo made inside > /root/inside.txt')).status).toBe(0);
    expect((await t.cli('cp', 'box:/root/inside.txt', out)).status).toBe(0);
    expect(await readFile(path.join(out, 'inside.txt'), 'utf8')).toBe('made inside\n');

    // The copies are the container's changes.
    expect(lines((await t.cli('diff', 'box')).stdout)).toEqual([
      'C /etc',
      'A /etc/renamed',
      'A /opt',
      'A /opt/sub',
      'A /opt/sub/deep.txt',
      'C /root',
      'A /root/inside.txt',
      'C /tmp',
      'A /tmp/hello.txt',
    ]);
    // Bad forms are refused clearly.
    const both = await t.cli('cp', 'box:/etc/motd', 'box:/tmp/x');
    expect(both.status).not.toBe(0);
    expect(both.stderr).toMatch(/exactly one side must be CONTAINER:PATH/);
    const missing = await t.cli('cp', 'nosuch:/etc/motd', out);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/no such container: nosuch/);
  });

  it('cp works on a stopped container and leaves no mount behind', async () => {
    const t = await newStore();
    expect((await t.cli('run', '--name', 'done', 'busybox', 'sh', '-c', 'echo result > /tmp/out.txt')).status).toBe(0);
    const out = path.join(t.dir, 'out.txt');
    expect((await t.cli('cp', 'done:/tmp/out.txt', out)).status).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('result\n');
    expect(await mountsUnder(t.root)).toEqual([]);
    await writeFile(path.join(t.dir, 'in.txt'), 'in\n');
    expect((await t.cli('cp', path.join(t.dir, 'in.txt'), 'done:/in.txt')).status).toBe(0);
    expect(await mountsUnder(t.root)).toEqual([]);
    expect(lines((await t.cli('diff', 'done')).stdout)).toEqual(['A /in.txt', 'C /tmp', 'A /tmp/out.txt']);
    expect((await t.cli('rm', 'done')).status).toBe(0);
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('cp into a created container: the file is there when it starts, and nothing stays mounted in between', async () => {
    const t = await newStore();
    expect((await t.cli('create', '--name', 'fresh', 'busybox', 'cat', '/etc/added.txt')).status).toBe(0);
    await writeFile(path.join(t.dir, 'added.txt'), 'added before start\n');
    expect((await t.cli('cp', path.join(t.dir, 'added.txt'), 'fresh:/etc/added.txt')).status).toBe(0);
    expect(await mountsUnder(t.root)).toEqual([]);
    const back = path.join(t.dir, 'back.txt');
    expect((await t.cli('cp', 'fresh:/etc/added.txt', back)).status).toBe(0);
    expect(await readFile(back, 'utf8')).toBe('added before start\n');
    expect(await mountsUnder(t.root)).toEqual([]);
    expect(lines((await t.cli('diff', 'fresh')).stdout)).toEqual(['C /etc', 'A /etc/added.txt']);
    expect(await t.cli('start', '-a', 'fresh')).toEqual(ok('added before start\n'));
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('run --rm leaves no container, whatever the exit status', async () => {
    const t = await newStore();
    expect(await t.cli('run', '--rm', 'busybox', 'true')).toEqual(ok(''));
    expect(await t.cli('run', '--rm', 'busybox', 'sh', '-c', 'echo out; exit 3')).toEqual({ status: 3, stdout: 'out\n', stderr: '' });
    const missing = await t.cli('run', '--rm', 'busybox', 'nosuchcmd');
    expect(missing.status).toBe(127);
    expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);
    expect(await readdir(path.join(t.root, 'cairn', 'containers')).catch(() => [])).toEqual([]);
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('run by the ID of an intermediate image (images -a), as docker runs any image ID', async () => {
    const t = await newStore();
    const context = path.join(t.dir, 'context');
    await mkdir(context);
    await writeFile(path.join(context, 'a.txt'), 'a\n');
    await writeFile(path.join(context, 'b.txt'), 'b\n');
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
    const built = await t.cli('build', '-q', '-t', 'steps:1', context);
    expect(built.status, built.stderr).toBe(0);
    const listed = lines((await t.cli('images', '-q')).stdout);
    const intermediate = lines((await t.cli('images', '-a', '-q')).stdout).filter((id) => !listed.includes(id));
    expect(intermediate).toHaveLength(1);
    const id = intermediate[0] ?? '';
    expect(await t.cli('run', '--rm', id, 'cat', '/a.txt')).toEqual(ok('a\n'));
    // The intermediate image is the one before the last COPY.
    expect((await t.cli('run', '--rm', id, 'sh', '-c', '[ -e /b.txt ]')).status).toBe(1);
    expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);
  });

  it('-e, -w, -u, --entrypoint, --hostname', async () => {
    const t = await newStore();
    expect(await t.cli('run', '--rm', '-e', 'FOO=bar', '-e', 'EMPTY=', 'busybox', 'sh', '-c', 'echo "$FOO|$EMPTY|$PATH"')).toEqual(ok('bar||/bin\n'));
    expect(await t.cli('run', '--rm', '-w', '/tmp', 'busybox', 'pwd')).toEqual(ok('/tmp\n'));
    expect(await t.cli('run', '--rm', '-u', 'nobody', 'busybox', 'id', '-u')).toEqual(ok('65534\n'));
    expect(await t.cli('run', '--rm', '-u', 'nobody', 'busybox', 'id', '-g')).toEqual(ok('65534\n'));
    expect(await t.cli('run', '--rm', '-u', '1000:1001', 'busybox', 'sh', '-c', 'echo $(id -u):$(id -g)')).toEqual(ok('1000:1001\n'));
    const unknown = await t.cli('run', '--rm', '-u', 'nosuchuser', 'busybox', 'true');
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/nosuchuser/);
    expect(await t.cli('run', '--rm', '--entrypoint', 'echo', 'busybox', 'hi', 'there')).toEqual(ok('hi there\n'));
    expect(await t.cli('run', '--rm', '--hostname', 'myhost', 'busybox', 'uname', '-n')).toEqual(ok('myhost\n'));
    // Without --hostname: the short ID, as docker.
    const named = await t.cli('run', '--name', 'hn', 'busybox', 'uname', '-n');
    const id = lines((await t.cli('ps', '-a', '-q')).stdout)[0];
    expect(named).toEqual(ok(`${id}\n`));
  });

  it('--network none has only a loopback; -p is refused with it; --network host sees the host', async () => {
    const t = await newStore();
    const none = await t.cli('run', '--rm', '--network', 'none', 'busybox', 'cat', '/proc/net/dev');
    expect(none.status).toBe(0);
    const interfaces = (text: string): string[] => lines(text).slice(2).map((l) => l.trim().split(':')[0] ?? '');
    expect(interfaces(none.stdout)).toEqual(['lo']);
    const withPort = await t.cli('run', '--rm', '--network', 'none', '-p', '8080:80', 'busybox', 'true');
    expect(withPort.status).not.toBe(0);
    expect(withPort.stderr).toMatch(/-p cannot be used with --network none/);
    const host = await t.cli('run', '--rm', '--network', 'host', 'busybox', 'cat', '/proc/net/dev');
    expect(interfaces(host.stdout).sort()).toEqual(interfaces(await readFile('/proc/net/dev', 'utf8')).sort());
    const bad = await t.cli('run', '--rm', '--network', 'bridge', 'busybox', 'true');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--network must be one of private, none, host/);
  });

  it('exec -e -w -u, and create → start → kill', async () => {
    const t = await newStore();
    const created = await t.cli('create', '--name', 'later', 'busybox', 'sleep', '60');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(tableRows((await t.cli('ps', '-a')).stdout)[1]?.[4]).toBe('Created');
    expect(await t.cli('start', 'later')).toEqual(ok('later\n'));
    expect(tableRows((await t.cli('ps')).stdout)[1]?.[4]).toMatch(/^Up /);
    expect(await t.cli('exec', '-e', 'A=1', '-w', '/etc', '-u', 'nobody', 'later', 'sh', '-c', 'echo "$A $(pwd) $(id -u)"')).toEqual(ok('1 /etc 65534\n'));
    expect(await t.cli('kill', 'later')).toEqual(ok('later\n'));
    for (let i = 0; i < 100 && !tableRows((await t.cli('ps', '-a')).stdout)[1]?.[4]?.startsWith('Exited'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(tableRows((await t.cli('ps', '-a')).stdout)[1]?.[4]).toMatch(/^Exited \(137\)/);
    // The root filesystem of a killed container is still there for cp/diff/commit.
    expect((await t.cli('commit', 'later', 'later:1')).status).toBe(0);
    const rootfs = path.join(t.root, 'cairn', 'containers', created.stdout.trim());
    expect(existsSync(rootfs)).toBe(true);
    expect((await lstat(rootfs)).isDirectory()).toBe(true);
  });
});
