/**
 * @module runtime/exit-actions
 * A container's cleanup once it has exited: detach its mounts and, for `--rm`, remove its
 * directory. Whoever sees the exit does it — the supervisor (in process), its
 * watchdog when the supervisor was killed (as shell), or a reader that finds both gone
 * (runtime/reconcile) — so this module gives both forms of the same steps.
 *
 * Removal is a rename to a hidden sibling first, then the delete: the container disappears at
 * once and whole, so a reader never finds it half-deleted (a state file without the rest, or a
 * directory it would write a state into while it is being deleted).
 */
import { rename as renameCallback, rm as rmCallback } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { errnoCode } from '../errors.js';
import { randomHex } from '../sys/crypto.js';
import { unmount } from '../sys/mount.js';
import { shQuote } from './runc.js';

// The callback forms: the exit of every `run --rm` removes a directory, and node:fs/promises
// (~3 ms to load, with the readline and stream modules it pulls in) is otherwise not needed there.
const rename = promisify(renameCallback);
const rm = promisify(rmCallback);

/**
 * A container's cleanup, given as data because this layer cannot call into the container
 * module: its mounts and `--rm`.
 */
export interface ExitActions {
  /** Mount points to detach (the overlay root filesystem), before `exited` is recorded. */
  unmount?: readonly string[];
  /** Delete the whole container directory after the exit (`--rm`). */
  remove?: boolean;
}

/** Detaches each mount point; one that cannot be detached stays for `stop`/`rm`, which retry. */
export async function unmountAll(targets: readonly string[]): Promise<void> {
  for (const target of targets) await unmount(target, { lazy: true }).catch(() => undefined);
}

/** Where `dir` is moved to be deleted: a hidden sibling no container listing picks up. */
function removalPath(dir: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.removing-${randomHex(6)}`);
}

/**
 * Removes a container directory (see the module comment); one already gone is success, and one
 * that cannot be moved is deleted where it is.
 */
export async function removeContainerDir(dir: string): Promise<void> {
  const doomed = removalPath(dir);
  try {
    await rename(dir, doomed);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    await rm(dir, { recursive: true, force: true });
    return;
  }
  await rm(doomed, { recursive: true, force: true });
}

/** The same steps as shell commands for the watchdog, after the runtime's teardown. */
export function exitActionsScript(dir: string, actions: ExitActions | undefined): string[] {
  const steps = (actions?.unmount ?? []).map((target) => `umount -l ${shQuote(target)}`);
  if (actions?.remove) {
    const doomed = shQuote(removalPath(dir));
    steps.push(`mv -- ${shQuote(dir)} ${doomed} && rm -rf -- ${doomed}`);
  }
  return steps;
}
