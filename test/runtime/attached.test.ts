// Attached runs under real runc on a copy of the busybox fixture rootfs: output and exit
// status, a missing command's error, and the generated config taking effect inside the
// container (user, hostname, env, cwd, rlimits, capabilities, masked paths, network modes).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { readState, runAttached, followLogs } from '../../src/runtime/control.js';
import { generateSpec, type SpecOptions } from '../../src/runtime/spec.js';
import type { ImageConfig } from '../../src/oci/types.js';
import { skipWithoutFixtures } from '../support/fixtures.js';
import { REPO_ROOT, skipWithoutTools } from '../support/tools.js';
import { busyboxImage, busyboxRootfs, containerDir, requireBuiltRuntime, runcList, sink, teardownAll } from './harness.js';

const RUN_CHILD = path.join(REPO_ROOT, 'test', 'runtime', 'run-child.mjs');

/** The environment for child node processes (without the CA bundle that slows every start). */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

afterEach(teardownAll);

/** Runs `args` attached in a fresh container; returns status and output. */
async function runIn(rootfs: string, args: string[], opts: Partial<SpecOptions> = {}, image: ImageConfig = busyboxImage(), stdin?: string) {
  const dir = await containerDir();
  const spec = await generateSpec(image, { rootfs, args, ...opts });
  const out = sink();
  const err = sink();
  const input = stdin === undefined ? undefined : PassThrough.from([stdin]);
  const status = await runAttached({
    containerDir: dir,
    spec,
    stdio: { stdout: out.stream, stderr: err.stream, ...(input ? { stdin: input } : {}) },
    interactive: input !== undefined,
  });
  return { status, stdout: out.text(), stderr: err.text(), dir };
}

describe.skipIf(skipWithoutTools('runc') || skipWithoutFixtures())('runc, attached', () => {
  it('captures stdout and stderr apart and returns the exit status', async () => {
    const rootfs = await busyboxRootfs();
    const r = await runIn(rootfs, ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7']);
    expect(r).toMatchObject({ status: 7, stdout: 'to-out\n', stderr: 'to-err\n' });
    const state = await readState(r.dir);
    expect(state).toMatchObject({ status: 'exited', exitCode: 7, runtime: 'runc' });
    expect(state?.startedAt).not.toBeNull();
    const lines = [];
    for await (const line of followLogs(r.dir)) lines.push([line.stream, line.log]);
    // Each stream's lines in order; between the two pipes the log has no order to promise (a
    // line written in two writes can have the other stream's line land between its parts).
    expect(lines.filter(([stream]) => stream === 'stdout')).toEqual([['stdout', 'to-out\n']]);
    expect(lines.filter(([stream]) => stream === 'stderr')).toEqual([['stderr', 'to-err\n']]);
    expect(lines).toHaveLength(2);
    expect(await runcList(r.dir)).toEqual([]); // runc run removed its container
  });

  it('reports a signal death as 128+N', async () => {
    const rootfs = await busyboxRootfs();
    // pid 1 of a namespace ignores its own signals: a child kills itself instead.
    expect((await runIn(rootfs, ['sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?'])).status).toBe(137);
  });

  it('fails clearly for a command that is not in the image, naming it', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir();
    const err = sink();
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['nosuch-command', 'x'] });
    const failure = await runAttached({ containerDir: dir, spec, stdio: { stderr: err.stream } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isCairnError(failure, 'process-failed')).toBe(true);
    expect((failure as Error).message).toBe('container start failed: exec: "nosuch-command": executable file not found in $PATH');
    expect((failure as { data: unknown }).data).toMatchObject({ command: 'nosuch-command', runtime: 'runc' });
    expect(err.text()).toBe(''); // runc's own error line is not the container's stderr
    expect(await readState(dir)).toMatchObject({ status: 'exited', exitCode: 127, error: expect.stringContaining('nosuch-command') });
  });

  it('applies user, hostname, env, working directory and stdin', async () => {
    const rootfs = await busyboxRootfs();
    const r = await runIn(
      rootfs,
      ['sh', '-c', 'id -u; id -g; hostname; echo "$GREETING $HOME"; pwd; cat'],
      { user: 'nobody', hostname: 'box-1', env: ['GREETING=hi'], workdir: '/tmp' },
      busyboxImage(),
      'from-stdin\n',
    );
    expect(r.stdout).toBe('65534\n65534\nbox-1\nhi /nonexistent\n/tmp\nfrom-stdin\n');
    expect(r.status).toBe(0);
  });

  it('gives the default capabilities, rlimits within the hard limits, no new privileges', async () => {
    const rootfs = await busyboxRootfs();
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['true'] });
    const nofile = spec.process.rlimits?.find((r) => r.type === 'RLIMIT_NOFILE');
    const r = await runIn(rootfs, ['sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; ulimit -n']);
    // docker's default set is 0xa80425fb.
    expect(r.stdout).toBe(`CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n${nofile?.soft}\n`);
  });

  it('masks /proc/timer_list and /sys/firmware, makes /proc/sys and /sys read-only', async () => {
    const rootfs = await busyboxRootfs();
    // (this kernel has no /proc/kcore; timer_list is non-empty on the host)
    const script = 'wc -c < /proc/timer_list; ls /sys/firmware | wc -l; touch /sys/x 2>/dev/null || echo sys-ro; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo procsys-ro';
    const r = await runIn(rootfs, ['sh', '-c', script]);
    expect(r.stdout).toBe('0\n0\nsys-ro\nprocsys-ro\n');
  });

  it('gives network=private only a loopback that is up, and network=host the host interfaces', async () => {
    const rootfs = await busyboxRootfs();
    const priv = await runIn(rootfs, ['sh', '-c', 'ls /sys/class/net; cat /sys/class/net/lo/operstate']);
    expect(priv.stdout).toBe('lo\nunknown\n'); // loopback reports "unknown" when up
    const host = await runIn(rootfs, ['ls', '/sys/class/net'], { network: 'host' });
    expect(host.stdout.split('\n').filter((l) => l !== '').length).toBeGreaterThanOrEqual(1);
    const { readdir } = await import('node:fs/promises');
    expect(host.stdout.trim().split('\n').sort()).toEqual((await readdir('/sys/class/net')).sort());
  });

  it('runs -it on a real terminal (under util-linux script)', async () => {
    requireBuiltRuntime();
    const rootfs = await busyboxRootfs();
    const dir = await containerDir();
    const r = spawnSync('script', ['-qec', `${process.execPath} ${RUN_CHILD} ${rootfs} ${dir} 1 -- sh`, '/dev/null'], {
      input: 'tty; echo "term=$TERM"; exit 3\n',
      encoding: 'utf8',
      env: childEnv(),
      timeout: 20_000,
    });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain('term=xterm');
    expect(r.status).toBe(3);
  });

  it('forwards a SIGTERM sent to the attached CLI process to the container', async () => {
    requireBuiltRuntime();
    const rootfs = await busyboxRootfs();
    const dir = await containerDir();
    const trap = 'trap "echo got-term; exit 9" TERM; echo up; while true; do sleep 0.1; done';
    const child = spawn(process.execPath, [RUN_CHILD, rootfs, dir, '0', '--', 'sh', '-c', trap], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      for (let i = 0; i < 400 && !out.includes('up\n'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(out).toContain('up\n');
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(out).toContain('got-term\n');
      expect(code).toBe(9);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
