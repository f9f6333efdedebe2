/**
 * @module runtime/reconcile
 * Finishing a container whose supervisor died (SIGKILL, OOM, crash), done by the first reader
 * that notices (runtime/control's readState): what the supervisor would have done at the exit.
 * The supervisor is the detached supervisor process, or for an attached `run` the CLI process
 * itself: a `cairn run --rm` killed mid-run is removed here like a `run -d --rm` one.
 *
 * Its watchdog normally did the work already (runtime/watchdog), so the reader first waits for it,
 * under its lock, and then does what is left: kill the container through the runtime, do the
 * exit actions recorded in the state (unmount; for `--rm`, remove the container) and record the
 * exit (137, with `error` saying why). The lock also keeps two readers from doing it twice.
 */
import { removeContainerDir, unmountAll } from './exit-actions.js';
import { isAlive } from './proc.js';
import { readRecordedState, runtimeContext, supervisorLost, writeState, type ContainerPaths, type ContainerState } from './state.js';
import type { Runtime } from './types.js';
import { afterWatchdog } from './watchdog.js';

/**
 * Finishes the container in `paths` if its supervisor is dead; returns its state then, or null
 * when it is gone (removed, as `--rm` asks). `runtimeFor` gives the runtime to kill it with.
 */
export async function reconcileLost(paths: ContainerPaths, runtimeFor: (state: ContainerState) => Runtime): Promise<ContainerState | null> {
  return afterWatchdog(paths, async () => {
    // Read again: the watchdog may have removed the container, the supervisor may have written
    // `exited` just before dying, another reader may have finished it, or a new start under way.
    const last = await readRecordedState(paths);
    if (!last || !(await supervisorLost(last))) return last;
    const alive = await isAlive(last.pid);
    try {
      await runtimeFor(last).delete(runtimeContext(paths, last.id), alive && last.pid ? last.pid.pid : null);
    } catch {
      // best effort: the state below still tells the truth about the supervisor
    }
    await unmountAll(last.onExit?.unmount ?? []);
    if (last.onExit?.remove) {
      await removeContainerDir(paths.dir);
      return null;
    }
    const final: ContainerState = {
      ...last,
      status: 'exited',
      exitCode: last.exitCode ?? 137,
      error: last.error ?? `its supervisor (pid ${last.supervisor.pid}) died`,
      finishedAt: new Date().toISOString(),
    };
    await writeState(paths, final);
    return final;
  });
}
