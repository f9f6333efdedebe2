/**
 * @module container/pause
 * Freezes a running container while its upper directory is read (commit), as `docker commit`
 * pauses by default: the layer is then one consistent snapshot rather than a file half written.
 * Uses `runc pause`/`resume` (the cgroup freezer); a container that is not running, or runs
 * under the unshare fallback (no cgroup), is read as it is.
 *
 * The freeze must not outlive the process that asked for it: a commit killed with SIGKILL while
 * the container is paused would otherwise leave it frozen for good. So the pause is held by a
 * small helper, not by us: `flock <container>/pause.lock sh -c '...'` in its own session, which
 * pauses, says so on its stdout, waits for a line on its stdin, and resumes. We end its stdin
 * when done; if we die instead, the kernel closes the pipe, `read` returns, and the helper
 * resumes all the same — at once, with no later command needed. (The same pattern as the
 * supervisor's watchdog.)
 *
 * The helper holds the container's pause lock (flock, dropped by the kernel when it exits) from
 * before the pause until after the resume, so pauses of one container, from any process, never
 * overlap: without that a second commit's `runc pause` fails on the already paused container, it
 * reads unfrozen, and the first one's resume lets the container write under it. And should the
 * helper itself be killed, the freeze it leaves is stale by definition — nobody holds the lock —
 * so the next pause, finding the container paused while holding the lock, adopts the freeze and
 * thaws it at its end.
 */
import path from 'node:path';
import { CairnError } from '../errors.js';
import { containerPaths, readRecordedState } from '../runtime/state.js';
import type { Store } from '../store/store.js';
import { containerDirs, type ContainerRecord } from './record.js';

/**
 * The helper's script: $1 runc, $2 its state root, $3 the container id. Prints `paused` (a freeze
 * it holds: its own, or a stale one it adopts) or `running` (nothing to freeze: the container
 * stopped meanwhile), then waits for end of input and undoes what it did.
 */
const HELPER = `
trap '' PIPE  # our reader may be dead already: echo must fail, not kill the helper before it resumes
if "$1" --root "$2" pause "$3" >/dev/null 2>&1 || "$1" --root "$2" state "$3" 2>/dev/null | grep -q '"status": *"paused"'; then
  echo paused; read line; "$1" --root "$2" resume "$3" >/dev/null 2>&1
else
  echo running; read line
fi`;

/** How long to wait for another pause of the same container to end. */
const LOCK_WAIT_SECONDS = 600;

/** Runs `fn` with the container frozen (when it runs under runc); see the module comment. */
export async function pauseWhile<T>(store: Store, record: ContainerRecord, fn: () => Promise<T>): Promise<T> {
  const dir = containerDirs(store, record.id).dir;
  // state.json alone tells a container that never ran or has exited (most commits and cp):
  // the runtime, and its check for a dead supervisor, load only for one that may be running.
  const recorded = await readRecordedState(containerPaths(dir));
  if (!recorded || recorded.status === 'exited') return fn();
  const { readState } = await import('../runtime/control.js');
  const state = await readState(dir);
  if (!state || state.status !== 'running' || state.runtime !== 'runc') return fn();
  const helper = await holdPause(dir, state.runtimeBinary ?? 'runc', state.id, record.name);
  try {
    return await fn();
  } finally {
    await helper.release();
  }
}

interface HeldPause {
  /** Resumes (when it paused) and resolves once the helper has exited. */
  release(): Promise<void>;
}

/** Starts the helper and waits until it has paused the container (or found nothing to pause). */
async function holdPause(dir: string, binary: string, id: string, name: string): Promise<HeldPause> {
  const { spawn } = await import('node:child_process');
  const root = containerPaths(dir).runtimeState;
  const child = spawn('flock', ['-x', '-w', String(LOCK_WAIT_SECONDS), path.join(dir, 'pause.lock'), 'sh', '-c', HELPER, 'sh', binary, root, id], {
    stdio: ['pipe', 'pipe', 'ignore'],
    // Its own session: a signal to our process group must not end the helper before it resumes.
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
  child.stdin.on('error', () => undefined); // EPIPE if the helper is gone
  const release = async (): Promise<void> => {
    child.stdin.end('done\n');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('\n')) {
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ release });
      }
    });
    void exited.then((code) => {
      if (out.includes('\n')) return;
      reject(new CairnError('process-failed', `container ${name}: cannot pause it (flock on its pause lock exited with ${String(code)})`, { id }));
    });
  });
}
