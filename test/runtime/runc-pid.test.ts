// When a runc start counts as started (src/runtime/runc.ts readRuncPid): the pid in runc's pid
// file is taken once that process runs the container's command, not while it is still runc's
// init (named `runc:[2:INIT]` until it execs), so a signal sent right after the start reaches the
// command. A real process plays runc's init: it names itself so, then execs `sleep`.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRuncPid } from '../../src/runtime/runc.js';

describe('readRuncPid', () => {
  it('waits while the pid is runc\'s init, and returns it once the process has exec\'d its command', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-runc-pid-'));
    const child = spawn('sh', ['-c', 'printf "runc:[2:INIT]" > /proc/$$/comm; sleep 0.3; exec sleep 30'], { stdio: 'ignore' });
    try {
      const pidFile = path.join(dir, 'container.pid');
      expect(await readRuncPid(pidFile)).toBeNull(); // no pid file yet
      await new Promise((resolve) => setTimeout(resolve, 50)); // the child has renamed itself
      expect(await readFile(`/proc/${child.pid}/comm`, 'utf8')).toBe('runc:[2:INIT]\n');
      await writeFile(pidFile, String(child.pid));
      const t = Date.now();
      expect(await readRuncPid(pidFile)).toBe(child.pid);
      expect(Date.now() - t).toBeGreaterThanOrEqual(150);
      expect(await readFile(`/proc/${child.pid}/comm`, 'utf8')).toBe('sleep\n');
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('returns a pid that is gone at once (a short container is over before its start is seen)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-runc-pid-'));
    const child = spawn('true');
    await new Promise((resolve) => child.once('exit', resolve));
    try {
      await writeFile(path.join(dir, 'container.pid'), String(child.pid));
      expect(await readRuncPid(path.join(dir, 'container.pid'))).toBe(child.pid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
