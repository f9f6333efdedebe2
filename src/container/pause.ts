/**
 * @module container/pause
 * Freezes a running container while its upper directory is read (commit), as `docker commit`
 * pauses by default: the layer is then one consistent snapshot rather than a file half written.
 * Uses `runc pause`/`resume` (the cgroup freezer); a container that is not running, or runs
 * under the unshare fallback (no cgroup), is read as it is.
 */
import path from 'node:path';
import { containerPaths, readRecordedState } from '../runtime/state.js';
import type { Store } from '../store/store.js';
import { FileLock } from '../sys/lock.js';
import { containerDirs, type ContainerRecord } from './record.js';

async function runc(args: readonly string[], binary = 'runc'): Promise<{ code: number; stderr: string }> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', (err) => resolve({ code: 1, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr: stderr.trim() }));
  });
}

/**
 * Runs `fn` with the container frozen (when it runs under runc). Pauses of one container are
 * serialised across processes by `<container>/pause.lock`: without it a second commit's
 * `runc pause` fails on the already paused container, it reads unfrozen, and the first commit's
 * resume lets the container write under it.
 */
export async function pauseWhile<T>(store: Store, record: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  const dir = containerDirs(store, record.id).dir;
  return new FileLock(path.join(dir, 'pause.lock')).exclusive(() => pausedRun(dir, fn));
}

async function pausedRun<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  // state.json alone tells a container that never ran or has exited (most commits and cp):
  // the runtime, and its check for a dead supervisor, load only for one that may be running.
  const recorded = await readRecordedState(containerPaths(dir));
  if (!recorded || recorded.status === 'exited') return fn();
  const { readState } = await import('../runtime/control.js');
  const state = await readState(dir);
  if (!state || state.status !== 'running' || state.runtime !== 'runc') return fn();
  const root = containerPaths(dir).runtimeState;
  const binary = state.runtimeBinary ?? 'runc';
  const paused = (await runc(['--root', root, 'pause', state.id], binary)).code === 0;
  try {
    return await fn();
  } finally {
    if (paused) await runc(['--root', root, 'resume', state.id], binary);
  }
}
