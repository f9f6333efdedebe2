/**
 * @module runtime/watchdog
 * What finishes a container whose supervisor is killed (SIGKILL, crash): a tiny `/bin/sh` reading
 * a pipe from the supervisor. The supervisor writes `ok` when it has finished the container
 * itself; if it dies instead, the pipe closes, `read` returns nothing and the shell does the
 * supervisor's remaining work: the runtime's teardown (`runc delete --force`), so the container
 * never outlives its supervisor, then the exit actions (runtime/exit-actions: unmount, and for
 * `--rm` remove the container).
 *
 * The watchdog runs under `flock watchdogLock` (util-linux) and holds it until that work is done,
 * so whoever finds the supervisor dead can wait for it (`afterWatchdog`) instead of racing it: a
 * `start` right after must not have its new mount unmounted by the old teardown, and a reader
 * must not write a state into a directory the watchdog is removing.
 */
import { closeSync, writeSync } from 'node:fs';
import { errnoCode, isCairnError } from '../errors.js';
import { native } from '../sys/native.js';
import { spawnChild, type NativeChild } from '../sys/spawn.js';
import { exitActionsScript, type ExitActions } from './exit-actions.js';
import type { ContainerPaths } from './state.js';

/** A running watchdog: the process, and the write end of the pipe it reads. */
export interface Watchdog {
  readonly process: NativeChild;
  readonly input: number;
}

/**
 * Starts the watchdog of the container in `paths` (see the module comment); undefined when it
 * cannot be started (no flock): the container then has only the readers to finish it.
 * Started natively (sys/spawn): a fork of the supervisor and node's child_process would cost
 * ~10 ms at every detached start. Its stdin is a pipe whose write end only we hold (close-on-exec):
 * when we die, it closes.
 */
export function startWatchdog(paths: ContainerPaths, teardown: string, onExit: ExitActions | undefined): Watchdog | undefined {
  const work = [teardown, ...exitActionsScript(paths.dir, onExit)].join('; ');
  const pipe = native().pipe();
  if (typeof pipe === 'number') return undefined;
  const [output, input] = pipe;
  try {
    const guard = spawnChild('flock', ['-x', paths.watchdogLock, '/bin/sh', '-c', `read line; [ "$line" = ok ] || { ${work}; } >/dev/null 2>&1`], {
      stdio: [output, 'ignore', 'ignore'],
      detached: true, // its own session: a signal to our process group must not take it with us
    });
    guard.on('error', () => undefined);
    guard.unref();
    return { process: guard, input };
  } catch {
    closeSync(input);
    return undefined;
  } finally {
    closeSync(output);
  }
}

/**
 * Tells the watchdog all is well and waits (at most a second) for it to exit. Not only for the
 * line to be written: a watchdog still starting creates `watchdog.lock` (flock's O_CREAT) in the
 * container directory, and a `--rm` removal right after would race it (rmdir: ENOTEMPTY).
 */
export function finishWatchdog(guard: Watchdog | undefined): Promise<void> {
  if (!guard) return Promise.resolve();
  const { process: child, input } = guard;
  const say = (): void => {
    try {
      writeSync(input, 'ok\n'); // 3 bytes into an empty pipe: never blocks
    } catch {
      // EPIPE: it is gone
    }
    closeSync(input);
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    closeSync(input);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000); // a watchdog that cannot take its lock, or is wedged
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    say();
  });
}

/**
 * Runs `fn` once the watchdog of a dead supervisor has done its work, holding its lock so that
 * two readers finishing the same container take turns. Best effort: a lock not released within
 * 10 s, or a directory already gone (the watchdog removed it), runs `fn` without the lock.
 */
export async function afterWatchdog<T>(paths: ContainerPaths, fn: () => Promise<T>): Promise<T> {
  const { FileLock } = await import('../sys/lock.js');
  let ran = false;
  try {
    return await new FileLock(paths.watchdogLock).exclusive(
      () => {
        ran = true;
        return fn();
      },
      { timeoutMs: 10_000 },
    );
  } catch (err) {
    if (ran || !(isCairnError(err, 'lock-timeout') || errnoCode(err) === 'ENOENT')) throw err;
    return fn();
  }
}
