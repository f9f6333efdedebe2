// A detached container's life after the CLI has exited, through the CLI and real runc: its
// supervisor cleans up when the process exits by itself — the root filesystem unmounted and the
// state exited with the status, without any later cairn command — and with `--rm` removes the
// container (also when `cairn stop` ends it). `-d -t` gives the process a terminal whose output
// is logged.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containerDirs } from '../../src/container/index.js';
import { lines, mountsUnder, newStore, skipWithoutContainers, tableRows, teardown, type TestStore } from './harness.js';

afterEach(teardown);

/** Polls `check` every 50 ms until it holds; false after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `cairn run -d ARGS...`, which must succeed quietly; returns the container ID it printed. */
async function runDetached(t: TestStore, ...args: string[]): Promise<string> {
  const run = await t.cli('run', '-d', ...args);
  expect([run.status, run.stderr]).toEqual([0, '']);
  const id = run.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  return id;
}

/** The state file's status as the supervisor wrote it (read directly: no cairn command runs). */
async function recordedStatus(t: TestStore, id: string): Promise<{ status: string; exitCode: number | null } | null> {
  try {
    return JSON.parse(await readFile(path.join(containerDirs(t.store, id).dir, 'state.json'), 'utf8')) as { status: string; exitCode: number | null };
  } catch {
    return null;
  }
}

const containerIds = async (t: TestStore): Promise<string[]> => (await readdir(path.join(t.root, 'cairn', 'containers')).catch(() => [])).filter((n) => /^[0-9a-f]{64}$/.test(n));

describe.skipIf(skipWithoutContainers())('detached containers after the CLI has gone', () => {
  it('exiting by itself: exited with its status and nothing mounted under it, before any other command', async () => {
    const t = await newStore();
    const id = await runDetached(t, '--name', 'short', 'busybox', 'sh', '-c', 'sleep 1; exit 7');
    const dir = containerDirs(t.store, id).dir;
    expect(await mountsUnder(dir)).toEqual([path.join(dir, 'rootfs')]); // mounted while it runs
    expect(await eventually(async () => (await recordedStatus(t, id))?.status === 'exited')).toBe(true);
    expect(await recordedStatus(t, id)).toMatchObject({ status: 'exited', exitCode: 7 });
    expect(await mountsUnder(dir)).toEqual([]);
    const row = tableRows((await t.cli('ps', '-a')).stdout).find((cols) => cols.at(-1) === 'short');
    expect(row?.[4]).toMatch(/^Exited \(7\) \S+ seconds? ago$|^Exited \(7\) Less than a second ago$/);
    // It starts again (mounted again), and its exit cleans up again.
    expect((await t.cli('start', 'short')).status).toBe(0);
    expect(await eventually(async () => (await recordedStatus(t, id))?.status === 'exited' && (await mountsUnder(dir)).length === 0)).toBe(true);
  });

  it('run -d --rm: the container is removed when its process exits, and when it is stopped', async () => {
    const t = await newStore();
    const id = await runDetached(t, '--rm', '--name', 'brief', 'busybox', 'sh', '-c', 'sleep 0.3; exit 3');
    expect(await eventually(async () => !existsSync(containerDirs(t.store, id).dir))).toBe(true);
    expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);

    const long = await t.cli('run', '-d', '--rm', '--name', 'stopped', 'busybox', 'sleep', '30');
    expect(long.status).toBe(0);
    expect(tableRows((await t.cli('ps')).stdout)[1]?.at(-1)).toBe('stopped');
    expect(await t.cli('stop', '-t', '0', 'stopped')).toEqual({ status: 0, stdout: 'stopped\n', stderr: '' });
    expect(lines((await t.cli('ps', '-a', '-q')).stdout)).toEqual([]);
    expect(await containerIds(t)).toEqual([]);
    expect(await mountsUnder(t.root)).toEqual([]);
    // The name is free again.
    expect((await t.cli('create', '--name', 'stopped', 'busybox')).status).toBe(0);
  });

  it('run -d --rm of a command missing from the image: the error, and no container left', async () => {
    const t = await newStore();
    const r = await t.cli('run', '-d', '--rm', 'busybox', 'nosuchcmd');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/executable file not found/);
    expect(await containerIds(t)).toEqual([]);
    expect(await mountsUnder(t.root)).toEqual([]);
  });

  it('run -d -t: the process has a terminal, and cairn logs shows what it wrote there', async () => {
    const t = await newStore();
    const id = await runDetached(t, '-t', '--name', 'withtty', 'busybox', 'sh', '-c', '[ -t 1 ] && echo on-a-tty; echo to-stderr >&2; exit 2');
    expect(await eventually(async () => (await recordedStatus(t, id))?.status === 'exited')).toBe(true);
    expect(await t.cli('logs', 'withtty')).toEqual({ status: 0, stdout: 'on-a-tty\nto-stderr\n', stderr: '' });
    expect(tableRows((await t.cli('ps', '-a')).stdout)[1]?.[4]).toMatch(/^Exited \(2\)/);
    expect(await mountsUnder(containerDirs(t.store, id).dir)).toEqual([]);
  });
});
