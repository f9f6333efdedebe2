// Detached containers under real runc: a supervisor process per container (dist/runtime/
// supervisor-main.js) with published ports, exec, logs, stop, and the faults — a port already
// taken, exec into a stopped container, and SIGKILL of the supervisor, after which the state must
// read exited and nothing may be left (runc state, processes, listening port) — and, with its
// watchdog killed too, the first reader does the exit actions (`--rm`: the container is removed).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { exec, followLogs, kill, readState, stop, waitExited } from '../../src/runtime/control.js';
import { startDetached } from '../../src/runtime/detach.js';
import { parsePublish } from '../../src/runtime/ports.js';
import { delay, isAlive } from '../../src/runtime/proc.js';
import { RuncRuntime } from '../../src/runtime/runc.js';
import { generateSpec } from '../../src/runtime/spec.js';
import type { ContainerState } from '../../src/runtime/state.js';
import { skipWithoutFixtures } from '../support/fixtures.js';
import { REPO_ROOT, skipWithoutTools } from '../support/tools.js';
import { busyboxImage, busyboxRootfs, containerDir, freePort, httpGet, listening, requireBuiltRuntime, runcList, sink, teardownAll } from './harness.js';

const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];

afterEach(teardownAll);

/** Starts busybox httpd detached with 127.0.0.1:<free port>:80 published. */
async function webServer(page: string): Promise<{ dir: string; port: number; state: ContainerState }> {
  const rootfs = await busyboxRootfs(page);
  const dir = await containerDir('web');
  const port = await freePort();
  const spec = await generateSpec(busyboxImage(), { rootfs, args: HTTPD, hostname: 'web' });
  const state = await startDetached({ containerDir: dir, spec, ports: [parsePublish(`127.0.0.1:${port}:80`)] });
  return { dir, port, state };
}

/** Pids of processes whose command line mentions `needle` (stray supervisors, runc, watchdogs). */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (cmdline.includes(needle)) found.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** The watchdog of the container in `dir` (runtime/watchdog): `flock` and the shell it runs. */
async function watchdogProcesses(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await processesMentioning(dir)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.startsWith('flock\0') || cmdline.startsWith('/bin/sh\0-c\0read line')) found.push(pid);
  }
  return found;
}

describe.skipIf(skipWithoutTools('runc', 'script') || skipWithoutFixtures())('runc, detached under a supervisor', () => {
  beforeAll(() => requireBuiltRuntime());

  it('serves busybox httpd on a published port, from a supervisor that is not this process', async () => {
    const { dir, port, state } = await webServer('<h1>welcome</h1>\n');
    expect(state).toMatchObject({ status: 'running', ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 80 }] });
    expect(state.supervisor.pid).not.toBe(process.pid);
    expect(state.supervisor.detached).toBe(true);
    expect(await httpGet(port)).toEqual({ status: 200, body: '<h1>welcome</h1>\n' });
    expect(await runcList(dir)).toEqual(['web']);
  });

  it('publishes one container port on two host ports, one of them chosen by the kernel', async () => {
    const rootfs = await busyboxRootfs('twice\n');
    const dir = await containerDir('twice');
    const port = await freePort();
    const spec = await generateSpec(busyboxImage(), { rootfs, args: HTTPD });
    const state = await startDetached({ containerDir: dir, spec, ports: [parsePublish(`127.0.0.1:${port}:80`), parsePublish('127.0.0.1::80')] });
    const chosen = state.ports[1]?.hostPort ?? 0;
    expect(chosen).toBeGreaterThan(0);
    expect((await readState(dir))?.ports.map((p) => p.hostPort)).toEqual([port, chosen]);
    expect([(await httpGet(port)).body, (await httpGet(chosen)).body]).toEqual(['twice\n', 'twice\n']);
  });

  it('runs two containers publishing different host ports to container port 80 at once', async () => {
    const [a, b] = await Promise.all([webServer('page A\n'), webServer('page B\n')]);
    const [ra, rb] = await Promise.all([httpGet(a.port), httpGet(b.port)]);
    expect([ra.body, rb.body]).toEqual(['page A\n', 'page B\n']);
    // Same runtime id ('web') in two directories: each still gets a cgroup of its own.
    const cgroups = await Promise.all([a, b].map(async (c) => readFile(`/proc/${c.state.pid?.pid}/cgroup`, 'utf8')));
    expect(cgroups[0]).toMatch(/cairn-web-[0-9a-f]{12}/);
    expect(cgroups[0]).not.toBe(cgroups[1]);
    // Many connections at once through each proxy.
    const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => httpGet(i % 2 ? a.port : b.port).then((r) => r.body)));
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'page A\n' : 'page B\n')));
  });

  it('execs into the running container: a changed page is served next', async () => {
    const { dir, port } = await webServer('old\n');
    const out = sink();
    const status = await exec(dir, { args: ['sh', '-c', 'echo "<h1>Hello, Docker!</h1>" > /www/index.html; echo done; hostname'], stdio: { stdout: out.stream } });
    expect({ status, out: out.text() }).toEqual({ status: 0, out: 'done\nweb\n' });
    expect((await httpGet(port)).body).toBe('<h1>Hello, Docker!</h1>\n');
    expect(await exec(dir, { args: ['sh', '-c', 'exit 4'] })).toBe(4);
    const failure = await exec(dir, { args: ['nosuch'] }).catch((e: unknown) => e);
    expect(isCairnError(failure, 'process-failed')).toBe(true);
    expect((failure as Error).message).toBe('exec failed: exec: "nosuch": executable file not found in $PATH');
    expect((await readdir(dir)).filter((f) => f.startsWith('exec-'))).toEqual([]); // scratch files removed
  });

  it('gives exec -it a real terminal (under util-linux script)', async () => {
    const { dir } = await webServer('x\n');
    const child = path.join(REPO_ROOT, 'test', 'runtime', 'exec-tty-child.mjs');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync('script', ['-qec', `${process.execPath} ${child} ${dir} -- sh`, '/dev/null'], {
      input: 'tty; echo "term=$TERM"; exit 5\n',
      encoding: 'utf8',
      env,
      timeout: 20_000,
    });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain('term=xterm');
    expect(r.status).toBe(5);
  });

  it('logs stdout and stderr as json lines and follows them until the exit', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir('talker');
    const script = 'for i in 1 2 3; do echo "line $i"; sleep 0.2; done; echo bye >&2; printf partial';
    await startDetached({ containerDir: dir, spec: await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', script] }) });
    const seen: string[] = [];
    for await (const line of followLogs(dir, { follow: true })) seen.push(`${line.stream}:${line.log}`);
    expect(seen).toEqual(['stdout:line 1\n', 'stdout:line 2\n', 'stdout:line 3\n', 'stderr:bye\n', 'stdout:partial']);
    const raw = (await readFile(path.join(dir, 'container.log'), 'utf8')).split('\n')[0] ?? '';
    expect(JSON.parse(raw)).toEqual({ log: 'line 1\n', stream: 'stdout', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/) });
    expect(await readState(dir)).toMatchObject({ status: 'exited', exitCode: 0 });
    const tail: string[] = [];
    for await (const line of followLogs(dir, { tail: 2 })) tail.push(line.log);
    expect(tail).toEqual(['bye\n', 'partial']);
  });

  it('counts a container as running once its command runs, not runc\'s init: a stop right after the start reaches the command', async () => {
    const rootfs = await busyboxRootfs();
    for (let i = 0; i < 5; i++) {
      const dir = await containerDir(`quick${i}`);
      const trap = 'trap "exit 3" TERM; while true; do sleep 0.1; done';
      const started = await startDetached({ containerDir: dir, spec: await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', trap] }) });
      const pid = started.pid?.pid ?? 0;
      // The process runc started has exec'd sh by the time `running` is recorded.
      expect(await readFile(`/proc/${pid}/comm`, 'utf8')).toBe('sh\n');
      expect(await stop(dir, { timeoutSec: 5 })).toMatchObject({ status: 'exited', exitCode: 3 });
    }
  });

  it('stops with the stop signal, and with SIGKILL after the timeout when it is ignored', async () => {
    const rootfs = await busyboxRootfs();
    const polite = await containerDir('polite');
    const trap = 'trap "exit 3" TERM; while true; do sleep 0.1; done';
    await startDetached({ containerDir: polite, spec: await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', trap] }) });
    let t = Date.now();
    expect(await stop(polite, { timeoutSec: 5 })).toMatchObject({ status: 'exited', exitCode: 3 });
    expect(Date.now() - t).toBeLessThan(3000);

    const { dir } = await webServer('x\n'); // httpd as pid 1 has no SIGTERM handler: the kernel ignores it
    t = Date.now();
    const final = await stop(dir, { timeoutSec: 1 });
    expect(final).toMatchObject({ status: 'exited', exitCode: 137 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
    expect(await runcList(dir)).toEqual([]);
    // exec into a stopped container is refused clearly
    const failure = await exec(dir, { args: ['true'] }).catch((e: unknown) => e);
    expect(isCairnError(failure, 'conflict')).toBe(true);
    expect((failure as Error).message).toMatch(/is not running/);
  });

  it('keeps a detached shell waiting with -di', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir('shell');
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sh'] });
    await startDetached({ containerDir: dir, spec, interactive: true });
    await delay(200);
    expect(await readState(dir)).toMatchObject({ status: 'running' });
    const out = sink();
    expect(await exec(dir, { args: ['echo', 'alive'], stdio: { stdout: out.stream } })).toBe(0);
    expect(out.text()).toBe('alive\n');
    expect(await stop(dir, { timeoutSec: 0 })).toMatchObject({ status: 'exited', exitCode: 137 });
  });

  it('runs -dt on a terminal of its own: the output, stderr included, is logged as the terminal shows it', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir('tty');
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && echo on-a-tty; echo to-stderr >&2; exit 5'], tty: true });
    expect(await startDetached({ containerDir: dir, spec })).toMatchObject({ status: 'running' });
    expect(await waitExited(dir, 10_000)).toMatchObject({ status: 'exited', exitCode: 5 });
    const logged: string[] = [];
    for await (const line of followLogs(dir)) logged.push(`${line.stream} ${line.log}`);
    expect(logged).toEqual(['stdout /dev/pts/0\n', 'stdout on-a-tty\n', 'stdout to-stderr\n']);
    // Nothing of the terminal is left: no runc, and the supervisor ends right after recording the exit.
    expect(await runcList(dir)).toEqual([]);
    let left = await processesMentioning(dir);
    for (let i = 0; i < 60 && left.length > 0; i++) {
      await delay(50);
      left = await processesMentioning(dir);
    }
    expect(left).toEqual([]);
  });

  it('refuses a second start while running, and starts an exited container again (docker start)', async () => {
    const { dir, port } = await webServer('again\n');
    const spec = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    const twice = await startDetached({ containerDir: dir, spec }).catch((e: unknown) => e);
    expect(isCairnError(twice, 'conflict')).toBe(true);
    expect((await httpGet(port)).body).toBe('again\n'); // the running one is untouched
    await stop(dir, { timeoutSec: 0 });
    const second = await startDetached({ containerDir: dir, spec, ports: [parsePublish(`127.0.0.1:${port}:80`)] });
    expect(second).toMatchObject({ status: 'running', exitCode: null });
    expect((await httpGet(port)).body).toBe('again\n');
  });

  it('kills with a signal, and refuses to kill a stopped container', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir('trap');
    const trap = 'trap "exit 5" USR1; while true; do sleep 0.1; done';
    await startDetached({ containerDir: dir, spec: await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', trap] }) });
    expect(await new RuncRuntime().state({ id: 'trap', stateDir: path.join(dir, 'runtime'), logFile: path.join(dir, 'runtime.log') })).toMatchObject({ status: 'running' });
    await kill(dir, 'USR1');
    expect(await waitExited(dir, 5000)).toMatchObject({ exitCode: 5 });
    const failure = await kill(dir, 'KILL').catch((e: unknown) => e);
    expect(isCairnError(failure, 'conflict')).toBe(true);
  });

  it('on SIGTERM the supervisor kills its container and records the exit itself', async () => {
    const { dir, port, state } = await webServer('x\n');
    process.kill(state.supervisor.pid, 'SIGTERM');
    for (let i = 0; i < 100 && (await isAlive(state.supervisor)); i++) await delay(50);
    expect(await isAlive(state.supervisor)).toBe(false);
    const final = await readState(dir);
    expect(final).toMatchObject({ status: 'exited', exitCode: 137 });
    expect(final?.error).toBeUndefined(); // written by the supervisor, not reconstructed by a reader
    expect(await runcList(dir)).toEqual([]);
    expect(await listening(port)).toBe(false);
  });

  it('refuses a host port already in use before the container starts, naming the port', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const rootfs = await busyboxRootfs();
      const dir = await containerDir('clash');
      const spec = await generateSpec(busyboxImage(), { rootfs, args: HTTPD });
      const failure = await startDetached({ containerDir: dir, spec, ports: [parsePublish(`127.0.0.1:${port}:80`)] }).catch((e: unknown) => e);
      expect(isCairnError(failure, 'conflict')).toBe(true);
      expect((failure as Error).message).toBe(`cannot publish port ${port}: 127.0.0.1:${port} is already in use`);
      expect(await readState(dir)).toMatchObject({ status: 'exited', pid: null, error: expect.stringContaining(String(port)) });
      expect(await runcList(dir)).toEqual([]);
      await delay(100);
      expect(await processesMentioning(dir)).toEqual([]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('after SIGKILL of the supervisor reads as exited and leaves nothing running', async () => {
    const { dir, port, state } = await webServer('x\n');
    expect((await httpGet(port)).status).toBe(200);
    const container = state.pid;
    expect(container && (await isAlive(container))).toBe(true);
    process.kill(state.supervisor.pid, 'SIGKILL');
    await delay(50);
    const after = await waitExited(dir, 10_000);
    expect(after).toMatchObject({ status: 'exited', exitCode: 137, error: expect.stringMatching(/supervisor .* died/) });
    // The watchdog (or this reader) removed the container: nothing of it is left.
    expect(await runcList(dir)).toEqual([]);
    expect(await isAlive(container)).toBe(false);
    expect(await listening(port)).toBe(false);
    for (let i = 0; i < 100 && (await processesMentioning(dir)).length > 0; i++) await delay(50);
    expect(await processesMentioning(dir)).toEqual([]);
    expect(await readState(dir)).toEqual(after); // recorded once, stable
  });

  it('with the supervisor and its watchdog both killed, the first reader does the exit actions: --rm removes it', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir('gone');
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sleep', '60'] });
    const state = await startDetached({ containerDir: dir, spec, onExit: { remove: true } });
    expect(state.onExit).toEqual({ remove: true }); // recorded for whoever finishes it
    let watchdog = await watchdogProcesses(dir);
    for (let i = 0; i < 100 && watchdog.length < 2; i++) watchdog = (await delay(20), await watchdogProcesses(dir));
    expect(watchdog).toHaveLength(2); // flock and its shell, which holds the lock too
    for (const pid of [...watchdog, state.supervisor.pid]) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100 && (await isAlive(state.supervisor)); i++) await delay(20);
    expect(existsSync(dir)).toBe(true); // nobody has finished it yet
    expect(await readState(dir)).toBeNull();
    expect(existsSync(dir)).toBe(false);
    expect(await readdir(path.dirname(dir))).toEqual([]); // removed whole, nothing left beside it
    expect(state.pid && (await isAlive(state.pid))).toBe(false);
  });
});
