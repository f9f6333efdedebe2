/**
 * @module sys/exit
 * Ending a command's process without Node's teardown. Once the last callback has run, Node frees
 * its heap, joins V8's and libuv's threads and runs C++ destructors before the process ends:
 * ~1.7 ms of a short command here (`cairn diff CONTAINER` takes ~55 ms in all), none of it
 * visible outside the process. bin/cairn.js calls `exitWhenIdle` after the command, except when
 * Node has built a stream on stdin, stdout or stderr: Node's exit puts back the flags it changed
 * on those descriptors (a pipe made non-blocking stays so for the other processes sharing it,
 * `cairn build -f - … | …` showed), and `_exit` would skip that.
 */
import { native } from './native.js';

/**
 * Whether Node was asked for something it writes in its teardown: a CPU or heap profile, V8
 * coverage (NODE_V8_COVERAGE, as c8 sets it), a report. Any option on Node's command line or in
 * NODE_OPTIONS counts, so that no such request is lost.
 */
function nodeWritesAtExit(): boolean {
  return process.execArgv.length > 0 || Boolean(process.env.NODE_OPTIONS) || Boolean(process.env.NODE_V8_COVERAGE);
}

/**
 * On the next turn of the event loop, if nothing keeps the loop alive (no handle or request, no
 * 'beforeExit' listener that might add one), ends the process as `process.exit()` does — every
 * 'exit' listener runs, with `process.exitCode` — and then at once (`_exit`). Otherwise, where the
 * addon is missing, and when Node has something to write at exit, does nothing: Node exits as
 * usual when the rest is done.
 */
export function exitWhenIdle(): void {
  if (nodeWritesAtExit()) return;
  let exitNow: (code: number) => never;
  try {
    ({ exitNow } = native());
  } catch {
    return;
  }
  setImmediate(() => {
    if (process.getActiveResourcesInfo().length > 0 || process.listenerCount('beforeExit') > 0) return;
    // process.exit() emits 'exit' and then calls process.reallyExit, which is where Node's own
    // teardown starts (the signal-exit package wraps it the same way).
    Object.assign(process, { reallyExit: (code?: number) => exitNow(code ?? 0) });
    process.exit();
  });
}
