// The util-linux fallback runtime (`--runtime unshare`) behind the same API as runc: an attached
// command with its output, status and config applied; a missing command's error; a detached
// web server with a published port, exec through nsenter, and stop.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { exec, readState, runAttached, stop } from '../../src/runtime/control.js';
import { startDetached } from '../../src/runtime/detach.js';
import { parsePublish } from '../../src/runtime/ports.js';
import { generateSpec } from '../../src/runtime/spec.js';
import { skipWithoutFixtures } from '../support/fixtures.js';
import { skipWithoutTools } from '../support/tools.js';
import { busyboxImage, busyboxRootfs, containerDir, freePort, httpGet, requireBuiltRuntime, sink, teardownAll } from './harness.js';

afterEach(teardownAll);

describe.skipIf(skipWithoutTools('unshare', 'nsenter', 'setpriv', 'prlimit', 'mount', 'ip', 'hostname') || skipWithoutFixtures())('unshare fallback runtime', () => {
  beforeAll(() => requireBuiltRuntime());

  it('runs a command attached, with the config applied', async () => {
    const rootfs = await busyboxRootfs();
    const dir = await containerDir();
    const script = 'id -u; hostname; pwd; echo "$A"; ls /sys/class/net; echo $$; grep CapBnd /proc/self/status; ls /dev | tr "\\n" " "; echo err >&2; exit 6';
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['sh', '-c', script], user: 'nobody', hostname: 'fallback', env: ['A=b'], workdir: '/tmp' });
    const out = sink();
    const err = sink();
    const status = await runAttached({ containerDir: dir, spec, runtime: 'unshare', stdio: { stdout: out.stream, stderr: err.stream } });
    expect(status).toBe(6);
    expect(out.text()).toBe(
      '65534\nfallback\n/tmp\nb\nlo\n1\nCapBnd:\t00000000a80425fb\nfd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ',
    );
    expect(err.text()).toBe('err\n'); // the setup's own output never reaches the container's stderr
    expect(await readState(dir)).toMatchObject({ status: 'exited', exitCode: 6, runtime: 'unshare' });
  });

  it('fails clearly for a command that is not in the image', async () => {
    const rootfs = await busyboxRootfs();
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['nosuch-command'] });
    const failure = await runAttached({ containerDir: await containerDir(), spec, runtime: 'unshare' }).catch((e: unknown) => e);
    expect(isCairnError(failure, 'process-failed')).toBe(true);
    expect((failure as Error).message).toBe('container start failed: exec: "nosuch-command": executable file not found in $PATH');
  });

  it('serves a published port detached, execs with nsenter, and stops', async () => {
    const rootfs = await busyboxRootfs('fallback page\n');
    const dir = await containerDir('web');
    const port = await freePort();
    const spec = await generateSpec(busyboxImage(), { rootfs, args: ['httpd', '-f', '-p', '80', '-h', '/www'] });
    const state = await startDetached({ containerDir: dir, spec, runtime: 'unshare', ports: [parsePublish(`127.0.0.1:${port}:80`)] });
    expect(state).toMatchObject({ status: 'running', runtime: 'unshare' });
    expect((await httpGet(port)).body).toBe('fallback page\n');
    const out = sink();
    expect(await exec(dir, { args: ['sh', '-c', 'echo changed > /www/index.html; echo $$ > /dev/null; pwd'], stdio: { stdout: out.stream } })).toBe(0);
    expect(out.text()).toBe('/\n');
    expect((await httpGet(port)).body).toBe('changed\n');
    expect(await stop(dir, { timeoutSec: 1 })).toMatchObject({ status: 'exited', exitCode: 137 });
  });
});
