// Runtime config generation (src/runtime/spec.ts), one block per rule of image-spec
// conversion.md, then our implementation-defined defaults. No runtime needed: these tests run
// everywhere. spec-notes/runtime-config.md points at each block.
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageConfig } from '../../src/oci/types.js';
import {
  containerRlimits,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  parseLimits,
  readHardLimits,
  type HardLimit,
  type HardLimits,
} from '../../src/runtime/defaults.js';
import { parsePublish } from '../../src/runtime/ports.js';
import { signalName } from '../../src/runtime/proc.js';
import { DEFAULT_PATH, execProcess, generateSpec, type SpecOptions } from '../../src/runtime/spec.js';
import { resolveUser } from '../../src/runtime/user.js';
import { busyboxImage, tempDir, teardownAll } from './harness.js';
import { failure } from '../support/errors.js';

const HARD: HardLimits = new Map<string, HardLimit>([
  ['RLIMIT_NOFILE', 20000],
  ['RLIMIT_NPROC', 'unlimited'],
  ['RLIMIT_CORE', 'unlimited'],
  ['RLIMIT_MEMLOCK', 8388608],
]);

const PASSWD = ['root:x:0:0:root:/root:/bin/sh', 'app:x:1000:1001:App:/home/app:/bin/sh', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ''].join('\n');
const GROUP = ['root:x:0:', 'appgrp:x:1001:', 'wheel:x:10:app,root', 'web:x:33:app', 'nogroup:x:65534:', ''].join('\n');

/** A minimal rootfs with only etc/passwd and etc/group. */
async function etcRootfs(passwd: string | null = PASSWD, group: string | null = GROUP): Promise<string> {
  const root = path.join(await tempDir(), 'rootfs');
  await mkdir(path.join(root, 'etc'), { recursive: true });
  if (passwd !== null) await writeFile(path.join(root, 'etc', 'passwd'), passwd);
  if (group !== null) await writeFile(path.join(root, 'etc', 'group'), group);
  return root;
}

async function spec(image: ImageConfig, opts: Partial<SpecOptions> = {}) {
  return generateSpec(image, { rootfs: opts.rootfs ?? (await etcRootfs()), hardLimits: HARD, ...opts });
}


afterEach(teardownAll);

describe('conversion.md: Config.Env → process.env', () => {
  it('copies the image env verbatim, in order', async () => {
    const s = await spec(busyboxImage({ Env: ['PATH=/bin', 'A=1', 'B=x=y'] }));
    expect(s.process.env.slice(0, 3)).toEqual(['PATH=/bin', 'A=1', 'B=x=y']);
  });
  it('lets run options replace a variable in place and add new ones', async () => {
    const s = await spec(busyboxImage({ Env: ['PATH=/bin', 'A=1'] }), { env: ['A=2', 'C=3'] });
    expect(s.process.env.slice(0, 3)).toEqual(['PATH=/bin', 'A=2', 'C=3']);
  });
  it('adds our defaults only for names the image does not set (SHOULD NOT add present names)', async () => {
    const own = await spec(busyboxImage({ Env: ['PATH=/opt', 'HOME=/data', 'TERM=dumb', 'HOSTNAME=img'] }), { tty: true, hostname: 'h1' });
    expect(own.process.env).toEqual(['PATH=/opt', 'HOME=/data', 'TERM=dumb', 'HOSTNAME=img']);
    const bare = await spec(busyboxImage({ Env: [] }), { tty: true, hostname: 'h1' });
    expect(bare.process.env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h1', 'TERM=xterm', 'HOME=/root']);
  });
  it('rejects an env entry without a name', async () => {
    expect((await failure(spec(busyboxImage(), { env: ['=x'] }))).code).toBe('invalid-argument');
    expect((await failure(spec(busyboxImage(), { env: ['NOVALUE'] }))).code).toBe('invalid-argument');
  });
});

describe('conversion.md: Config.Entrypoint + Config.Cmd → process.args', () => {
  const both = busyboxImage({ Entrypoint: ['/entry', '-v'], Cmd: ['serve', '--port', '80'] });
  it('appends Cmd to Entrypoint when both are set (MUST)', async () => {
    expect((await spec(both)).process.args).toEqual(['/entry', '-v', 'serve', '--port', '80']);
  });
  it('uses Cmd alone, or Entrypoint alone', async () => {
    expect((await spec(busyboxImage({ Cmd: ['sh', '-c', 'true'] }))).process.args).toEqual(['sh', '-c', 'true']);
    expect((await spec(busyboxImage({ Entrypoint: ['/entry'], Cmd: null }))).process.args).toEqual(['/entry']);
  });
  it('replaces Cmd with run arguments and keeps Entrypoint (docker run IMAGE ARGS)', async () => {
    expect((await spec(both, { args: ['status'] })).process.args).toEqual(['/entry', '-v', 'status']);
  });
  it('drops the image Cmd for a new entrypoint, keeps it for an empty one (docker --entrypoint)', async () => {
    expect((await spec(both, { entrypoint: ['/other'] })).process.args).toEqual(['/other']);
    expect((await spec(both, { entrypoint: ['/other'], args: ['x'] })).process.args).toEqual(['/other', 'x']);
    expect((await spec(both, { entrypoint: [] })).process.args).toEqual(['serve', '--port', '80']);
  });
  it('fails without any command', async () => {
    const r = await failure(spec(busyboxImage({ Cmd: null })));
    expect(r.code).toBe('invalid-argument');
    expect(r.message).toMatch(/no command/);
  });
});

describe('conversion.md: Config.WorkingDir → process.cwd', () => {
  it('copies it, defaults to /, and takes the run option over it', async () => {
    expect((await spec(busyboxImage({ WorkingDir: '/srv/app' }))).process.cwd).toBe('/srv/app');
    expect((await spec(busyboxImage({ WorkingDir: '' }))).process.cwd).toBe('/');
    expect((await spec(busyboxImage({ WorkingDir: '/srv' }), { workdir: '/tmp/./x/' })).process.cwd).toBe('/tmp/x');
  });
  it('rejects a relative working directory', async () => {
    expect((await failure(spec(busyboxImage(), { workdir: 'rel' }))).code).toBe('invalid-argument');
  });
});

describe('conversion.md: Config.User → process.user (parsed through the rootfs)', () => {
  it('copies numeric uid and gid verbatim', async () => {
    const s = await spec(busyboxImage({ User: '4242:4343' }));
    expect(s.process.user).toEqual({ uid: 4242, gid: 4343, umask: 0o022 });
  });
  it('takes the gid of a numeric uid from its passwd entry, else 0; never adds groups', async () => {
    expect((await spec(busyboxImage({ User: '1000' }))).process.user).toEqual({ uid: 1000, gid: 1001, umask: 0o022 });
    expect((await spec(busyboxImage({ User: '777' }))).process.user).toEqual({ uid: 777, gid: 0, umask: 0o022 });
  });
  it('resolves a name through /etc/passwd, with its memberships as additionalGids', async () => {
    const s = await spec(busyboxImage({ User: 'app' }));
    expect(s.process.user).toEqual({ uid: 1000, gid: 1001, umask: 0o022, additionalGids: [10, 33] });
    expect(s.process.env).toContain('HOME=/home/app');
  });
  it('resolves name:group through /etc/group and adds no additionalGids', async () => {
    expect((await spec(busyboxImage({ User: 'app:web' }))).process.user).toEqual({ uid: 1000, gid: 33, umask: 0o022 });
    expect((await spec(busyboxImage({ User: 'app:5' }))).process.user).toEqual({ uid: 1000, gid: 5, umask: 0o022 });
  });
  it('runs as root without a user, and the run option replaces the image user', async () => {
    expect((await spec(busyboxImage())).process.user).toMatchObject({ uid: 0, gid: 0 });
    expect((await spec(busyboxImage({ User: 'app' }), { user: 'nobody' })).process.user).toMatchObject({ uid: 65534, gid: 65534 });
  });
  it('MUST fail for a user or group that is not in the container', async () => {
    const u = await failure(spec(busyboxImage({ User: 'ghost' })));
    expect(u).toMatchObject({ code: 'not-found' });
    expect(u.message).toMatch(/ghost/);
    expect(await failure(spec(busyboxImage({ User: 'app:ghosts' })))).toMatchObject({ code: 'not-found' });
    expect(await failure(spec(busyboxImage({ User: 'app' }), { rootfs: await etcRootfs(null, null) }))).toMatchObject({ code: 'not-found' });
    expect(await failure(spec(busyboxImage({ User: 'app:' })))).toMatchObject({ code: 'invalid-argument' });
  });
  it('never reads a passwd file outside the rootfs through a symlink', async () => {
    const root = await etcRootfs(null);
    // A file beside the rootfs names the user; the rootfs's passwd is a symlink climbing to it.
    await writeFile(path.join(root, '..', 'host-passwd'), 'intruder:x:4444:4444::/:/bin/sh\n');
    await symlink('../../../../../../../../host-passwd', path.join(root, 'etc', 'passwd'));
    expect(await failure(resolveUser(root, 'intruder'))).toMatchObject({ code: 'not-found' });
    // An absolute target is re-rooted too: /etc/shadow-like host paths are never reached.
    const other = await etcRootfs(null);
    await symlink(path.join(root, '..', 'host-passwd'), path.join(other, 'etc', 'passwd'));
    expect(await failure(resolveUser(other, 'intruder'))).toMatchObject({ code: 'not-found' });
  });
  it('does not block on a FIFO where /etc/group should be', async () => {
    const root = await etcRootfs(PASSWD, null);
    execFileSync('mkfifo', [path.join(root, 'etc', 'group')]); // node has no mkfifo
    expect(await resolveUser(root, 'app')).toMatchObject({ uid: 1000, additionalGids: [] });
  });
});

describe('conversion.md: annotations', () => {
  const image: ImageConfig = {
    ...busyboxImage({ StopSignal: 'SIGQUIT', ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Labels: { 'org.opencontainers.image.author': 'label wins', app: 'web' } }),
    variant: 'v8',
    author: 'config author',
    'os.version': '10.0',
    'os.features': ['a', 'b'],
  };
  it('sets os, architecture, variant, os.version, os.features, created, stopSignal, exposedPorts', async () => {
    const a = (await spec(image)).annotations ?? {};
    expect(a).toMatchObject({
      'org.opencontainers.image.os': 'linux',
      'org.opencontainers.image.architecture': 'amd64',
      'org.opencontainers.image.variant': 'v8',
      'org.opencontainers.image.os.version': '10.0',
      'org.opencontainers.image.os.features': 'a,b',
      'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
      'org.opencontainers.image.stopSignal': 'SIGQUIT',
      'org.opencontainers.image.exposedPorts': '80/tcp,53/udp',
      app: 'web',
    });
  });
  it('gives Config.Labels precedence over an implicit annotation (MUST)', async () => {
    expect((await spec(image)).annotations?.['org.opencontainers.image.author']).toBe('label wins');
    expect((await spec(busyboxImage(), { annotations: { x: '1' } })).annotations?.['org.opencontainers.image.author']).toBeUndefined();
  });
  it('adds the caller annotations last', async () => {
    expect((await spec(image, { annotations: { app: 'caller' } })).annotations?.app).toBe('caller');
  });
});

describe('implementation-defined defaults', () => {
  it('puts the container in its own pid, network, ipc, uts and mount namespaces', async () => {
    const types = (await spec(busyboxImage())).linux.namespaces.map((n) => n.type).sort();
    expect(types).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect((await spec(busyboxImage(), { network: 'none' })).linux.namespaces.map((n) => n.type)).toContain('network');
  });
  it('shares the host network with network=host and mounts the image resolv.conf over only when it has one', async () => {
    const root = await etcRootfs();
    await writeFile(path.join(root, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    const s = await spec(busyboxImage(), { network: 'host', rootfs: root });
    expect(s.linux.namespaces.map((n) => n.type)).not.toContain('network');
    expect(s.mounts.filter((m) => m.type === 'bind').map((m) => m.destination)).toEqual(['/etc/hosts']);
  });
  it('mounts /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and a read-only /sys', async () => {
    const mounts = (await spec(busyboxImage())).mounts;
    expect(mounts.map((m) => m.destination)).toEqual(expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']));
    expect(mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
  });
  it("grants docker's default capabilities to root and none effective to other users", async () => {
    const root = (await spec(busyboxImage())).process.capabilities;
    expect(root?.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(root?.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(DEFAULT_CAPABILITIES).not.toContain('CAP_SYS_ADMIN');
    const app = (await spec(busyboxImage({ User: '1000' }))).process.capabilities;
    expect(app).toMatchObject({ bounding: [...DEFAULT_CAPABILITIES], effective: [], permitted: [] });
  });
  it("masks and write-protects podman's default paths", async () => {
    const s = await spec(busyboxImage());
    expect(s.linux.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(s.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware']));
    expect(s.linux.readonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
  });
  it('sets noNewPrivileges unless asked not to, and a read-only rootfs on request', async () => {
    expect((await spec(busyboxImage())).process.noNewPrivileges).toBe(true);
    expect((await spec(busyboxImage(), { noNewPrivileges: false })).process.noNewPrivileges).toBe(false);
    expect((await spec(busyboxImage(), { readonlyRootfs: true })).root.readonly).toBe(true);
  });
  it('sets the hostname and the terminal, and rejects a bad hostname', async () => {
    const s = await spec(busyboxImage(), { hostname: 'web-1', tty: true });
    expect(s).toMatchObject({ hostname: 'web-1', process: { terminal: true } });
    expect((await spec(busyboxImage())).hostname).toBeUndefined();
    expect(await failure(spec(busyboxImage(), { hostname: 'a b' }))).toMatchObject({ code: 'invalid-argument' });
  });
});

describe('rlimits stay within the hard limits (root cannot raise them here)', () => {
  it('asks for NOFILE and NPROC at min(1048576, hard)', () => {
    expect(containerRlimits(HARD)).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 1048576, hard: 1048576 },
    ]);
  });
  it("never exceeds this machine's hard limits", async () => {
    const hard = await readHardLimits();
    const s = await generateSpec(busyboxImage(), { rootfs: await etcRootfs() });
    for (const r of s.process.rlimits ?? []) {
      const max = hard.get(r.type);
      if (max !== 'unlimited') expect(r.hard).toBeLessThanOrEqual(max ?? -1);
      expect(r.soft).toBeLessThanOrEqual(r.hard);
    }
  });
  it('rejects an extra limit above the hard limit, and takes one within it', () => {
    expect(() => containerRlimits(HARD, [{ type: 'RLIMIT_NOFILE', soft: 30000, hard: 30000 }])).toThrow(/cannot be raised/);
    expect(() => containerRlimits(HARD, [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }])).toThrow(/soft/);
    expect(containerRlimits(HARD, [{ type: 'RLIMIT_CORE', soft: 0, hard: 0 }])).toContainEqual({ type: 'RLIMIT_CORE', soft: 0, hard: 0 });
  });
  it('parses /proc/<pid>/limits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max processes             96364                96364                processes ',
      'Max open files            1024                 20000                files     ',
      'Max core file size        0                    unlimited            bytes     ',
    ].join('\n');
    expect([...parseLimits(text)]).toEqual([
      ['RLIMIT_NPROC', 96364],
      ['RLIMIT_NOFILE', 20000],
      ['RLIMIT_CORE', 'unlimited'],
    ]);
  });
});

describe('exec process', () => {
  it('inherits the container process and merges env, user, cwd and terminal', async () => {
    const rootfs = await etcRootfs();
    const container = await spec(busyboxImage({ Env: ['PATH=/bin', 'A=1'], WorkingDir: '/srv' }), { rootfs });
    const p = await execProcess(container, rootfs, { args: ['sh'], env: ['A=2'], tty: true });
    expect(p).toMatchObject({ args: ['sh'], cwd: '/srv', terminal: true, user: { uid: 0, gid: 0 }, noNewPrivileges: true });
    expect(p.env).toEqual(expect.arrayContaining(['PATH=/bin', 'A=2', 'TERM=xterm', 'HOME=/root']));
    const asApp = await execProcess(container, rootfs, { args: ['id'], user: 'app', cwd: '/tmp' });
    expect(asApp).toMatchObject({ cwd: '/tmp', user: { uid: 1000, gid: 1001, additionalGids: [10, 33] }, capabilities: { effective: [] } });
    expect(asApp.env).toContain('HOME=/home/app');
    expect(asApp.rlimits).toEqual(container.process.rlimits);
  });
});

describe('-p and signals', () => {
  it("parses docker's -p forms", () => {
    expect(parsePublish('8080:80')).toEqual({ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('127.0.0.1:8080:80/tcp')).toEqual({ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(parsePublish('80')).toMatchObject({ hostPort: 0, containerPort: 80 });
    expect(parsePublish('127.0.0.1::80')).toMatchObject({ hostIp: '127.0.0.1', hostPort: 0 });
    expect(parsePublish('[::1]:8080:80')).toMatchObject({ hostIp: '::1', hostPort: 8080 });
    expect(() => parsePublish('53:53/udp')).toThrow(/only tcp/);
    expect(() => parsePublish('x:80')).toThrow(/invalid port/);
    expect(() => parsePublish('1.2.3:80:80')).toThrow(/invalid host address/);
  });
  it('names signals the ways users write them', () => {
    expect(['SIGTERM', 'TERM', 'term', '15', 15].map((s) => signalName(s))).toEqual(Array(5).fill('SIGTERM'));
    expect(() => signalName('NOPE')).toThrow(/unknown signal/);
  });
});
