/**
 * @module runtime/supervisor-main
 * The detached supervisor's entry point (`node dist/runtime/supervisor-main.js <containerDir>`),
 * started by runtime/detach. It supervises one container (runtime/supervisor), answers the
 * starting process once on fd 3, and exits when the container has exited.
 *
 * SIGTERM, SIGINT and SIGHUP to the supervisor kill the container (SIGKILL) and then finish
 * normally: the state says exited. SIGKILL cannot be caught; the watchdog and the next reader
 * handle that (runtime/state).
 */
import { closeSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import tty from 'node:tty';
import { isCairnError } from '../errors.js';
import { createRuntime } from './control.js';
import type { SupervisorConfig } from './detach.js';
import { containerPaths, runtimeContext } from './state.js';
import { Supervision, type ReadyMessage } from './supervisor.js';
import type { RuntimeSpec } from './types.js';

const READY_FD = 3;
let answered = false;

/** One JSON line on fd 3, then close it: the starting process stops waiting either way. */
function answer(msg: ReadyMessage): void {
  if (answered) return;
  answered = true;
  try {
    writeSync(READY_FD, `${JSON.stringify(msg)}\n`);
    closeSync(READY_FD);
  } catch {
    // the starter gave up waiting (timeout): the state file still tells
  }
}

function errorMessage(err: unknown): ReadyMessage {
  if (isCairnError(err)) return { ok: false, error: { code: err.code, message: err.message, data: { ...err.data } } };
  return { ok: false, error: { code: 'process-failed', message: err instanceof Error ? err.message : String(err), data: {} } };
}

async function main(containerDir: string): Promise<number> {
  const paths = containerPaths(containerDir);
  const config = JSON.parse(await readFile(paths.supervisorConfig, 'utf8')) as SupervisorConfig;
  const spec = JSON.parse(await readFile(paths.config, 'utf8')) as RuntimeSpec;
  const runtime = createRuntime(config.runtime, config.runtimeBinary ? { binary: config.runtimeBinary } : {});
  // `-dt`: runc runs the container's terminal only from one of its own (see runtimeTerminal).
  const terminal = spec.process.terminal ? await runtimeTerminal() : undefined;
  const sup = await Supervision.begin({
    paths,
    id: config.id,
    spec,
    runtime,
    ...(config.runtimeBinary ? { runtimeBinary: config.runtimeBinary } : {}),
    ports: config.ports,
    detached: true,
    // `-di`: a stdin that stays open and silent, so the process waits instead of reading EOF.
    io: { ...(config.interactive ? { stdin: new PassThrough() } : {}), ...(terminal ? { runtimeTerminal: terminal.slave } : {}) },
    ...(config.onExit ? { onExit: config.onExit } : {}),
  });
  let stopping = false;
  const stopContainer = (): void => {
    if (stopping) return;
    stopping = true;
    void sup.started
      .then((state) => (state.pid ? runtime.kill(runtimeContext(paths, config.id), state.pid.pid, 'SIGKILL') : undefined))
      .catch(() => undefined);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stopContainer);
  terminal?.closeSlave(); // runc has its own copy now
  answer({ ok: true, state: await sup.started });
  const final = await sup.finished;
  terminal?.close();
  return final.error ? 1 : 0;
}

/**
 * A pty whose slave becomes runc's stderr. The master is drained (runc writes there only its own
 * complaints, which its JSON log has too) so nothing written to the slave can block.
 */
async function runtimeTerminal(): Promise<{ slave: number; closeSlave(): void; close(): void }> {
  const { openPty } = await import('../sys/pty.js');
  const pty = await openPty();
  const master = new tty.ReadStream(pty.master);
  master.on('data', () => undefined);
  master.on('error', () => undefined); // EIO once the last slave holder has gone
  let slaveOpen = true;
  const closeSlave = (): void => {
    if (slaveOpen) closeSync(pty.slave);
    slaveOpen = false;
  };
  return { slave: pty.slave, closeSlave, close: () => (closeSlave(), master.destroy()) };
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: supervisor-main.js <containerDir>\n');
  process.exit(2);
}
main(dir).then(
  (code) => process.exit(code),
  (err: unknown) => {
    answer(errorMessage(err));
    process.stderr.write(`${new Date().toISOString()} supervisor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
