// An attached `cairn run` whose CLI process is killed with SIGKILL mid-run: once the container's
// process has ended, `ps -a` shows a `--rm` container gone and a kept one exited, nothing under
// the store is mounted, and `fsck` is clean (podman's --rm does the same through conmon). Each case
// runs twice: with the run's watchdog left to do its work, and with the watchdog killed too, so
// that the next reader (runtime/reconcile) is what finishes the container.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerDirs } from '../../src/container/index.js';
import { processStartTime } from '../../src/runtime/proc.js';
import { CAIRN_BIN, lines, mountsUnder, newStore, skipWithoutContainers, stateOf, tableRows, teardown, type TestStore } from './harness.js';

afterEach(teardown);

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `cairn run NAME-AND-ARGS` attached, as a child process of its own (it is to be killed). */
function attachedRun(t: TestStore, args: readonly string[]): ChildProcess {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.CAIRN_STORE;
  return spawn(process.execPath, [CAIRN_BIN, '--store', t.root, 'run', ...args], { env, stdio: 'ignore' });
}

/** The ID of the store's only container once its process runs, and that process's pid. */
async function runningContainer(t: TestStore): Promise<{ id: string; pid: number }> {
  for (let i = 0; i < 400; i++) {
    const [id] = lines((await t.cli('ps', '-q', '--no-trunc')).stdout);
    const state = id === undefined ? null : await stateOf(t, id).catch(() => null);
    if (id !== undefined && state?.status === 'running' && state.pid) return { id, pid: state.pid.pid };
    await delay(25);
  }
  throw new Error('the container did not start');
}

/** Pids of the processes whose command line names `file` (the watchdog holds its lock file open by name). */
async function processesNaming(file: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(file)) pids.push(Number(entry));
  }
  return pids;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await delay(50);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/**
 * Runs `sleep 3` attached, SIGKILLs the CLI (and, with `killWatchdog`, the run's watchdog first),
 * and waits for the container's process to end. Returns the store to look at, with no cairn
 * command run since the kill.
 */
async function killedMidRun(runArgs: readonly string[], killWatchdog: boolean): Promise<TestStore> {
  const t = await newStore();
  // Long enough to be killed mid-run on a busy machine; with its watchdog gone it runs to the end.
  const cli = attachedRun(t, [...runArgs, 'busybox', 'sleep', '3']);
  const closed = new Promise<NodeJS.Signals | null>((resolve) => cli.once('close', (_code, signal) => resolve(signal)));
  try {
    const { id, pid } = await runningContainer(t);
    expect(await mountsUnder(t.root)).toEqual([path.join(containerDirs(t.store, id).dir, 'rootfs')]);
    if (killWatchdog) {
      // Its own session (detached): the group holds flock and the shell under it.
      for (const watchdog of await processesNaming(path.join(containerDirs(t.store, id).dir, 'watchdog.lock'))) {
        try {
          process.kill(-watchdog, 'SIGKILL');
        } catch {
          // gone meanwhile (a process that only named the file, or one that just ended)
        }
      }
    }
    cli.kill('SIGKILL');
    expect(await closed).toBe('SIGKILL'); // killed mid-run, not ended by itself
    await until(async () => (await processStartTime(pid)) === null, 'the container process ended');
  } finally {
    cli.kill('SIGKILL');
  }
  return t;
}

async function expectStoreClean(t: TestStore): Promise<void> {
  expect(await mountsUnder(t.root)).toEqual([]);
  const fsck = await t.cli('fsck');
  expect([fsck.status, fsck.stderr]).toEqual([0, '']);
}

describe.skipIf(skipWithoutContainers())('an attached run whose CLI is killed with SIGKILL', () => {
  for (const killWatchdog of [false, true]) {
    const how = killWatchdog ? 'CLI and watchdog killed' : 'CLI killed';
    it(`run --rm (${how}): ps -a shows nothing, nothing is mounted, fsck is clean`, async () => {
      const t = await killedMidRun(['--rm'], killWatchdog);
      expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);
      // Removed whole: not even the hidden directory it was moved to for deletion stays.
      const containers = path.join(t.root, 'cairn', 'containers');
      await until(async () => (await readdir(containers)).length === 0, `${containers} is empty`);
      await expectStoreClean(t);
    });

    it(`run without --rm (${how}): ps -a shows it exited, nothing is mounted, fsck is clean`, async () => {
      const t = await killedMidRun(['--name', 'kept'], killWatchdog);
      const rows = tableRows((await t.cli('ps', '-a')).stdout).slice(1);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.at(-1)).toBe('kept');
      expect(rows[0]?.[4]).toMatch(/^Exited \(\d+\)/);
      expect(lines((await t.cli('ps', '-q')).stdout)).toEqual([]);
      await expectStoreClean(t);
      // It starts again, and is removed without -f once it has exited.
      expect((await t.cli('start', 'kept')).status).toBe(0);
      expect((await t.cli('stop', '-t', '0', 'kept')).status).toBe(0);
      expect(await t.cli('rm', 'kept')).toEqual({ status: 0, stdout: 'kept\n', stderr: '' });
      expect(await mountsUnder(t.root)).toEqual([]);
    });
  }
});
