/**
 * @module runtime/detach
 * `run -d`: start a supervisor process (supervisor-main) that owns the container from then on,
 * and return as soon as the container runs — or fail with the supervisor's reason (a port in use,
 * a missing command) — so the CLI can exit at once while the container keeps running, logging
 * and publishing its ports.
 *
 * The supervisor is `node dist/runtime/supervisor-main.js <containerDir>` in its own session
 * (`setsid`, so no terminal hangup reaches it), cwd `/`, stdin /dev/null, stdout/stderr appended
 * to `supervisor.log`. It reads `supervisor.json` and `config.json` from the container dir and
 * answers on fd 3 with one JSON line, `{"ok":true,"state":...}` or `{"ok":false,"error":...}`.
 * `NODE_EXTRA_CA_CERTS` is dropped from its environment: it makes no TLS connections, and the
 * variable costs every node start ~60 ms (README).
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../errors.js';
import { assertNotRunning, resolveRuntime, runtimeBinaryOf, runtimeId, type ContainerRunOptions } from './control.js';
import type { PortMapping } from './ports.js';
import { containerPaths, type ContainerState } from './state.js';
import type { ExitActions } from './exit-actions.js';
import { readyError, type ReadyMessage } from './supervisor.js';
import type { RuntimeName } from './types.js';

/** What supervisor-main reads from `<containerDir>/supervisor.json`. */
export interface SupervisorConfig {
  id: string;
  runtime: RuntimeName;
  runtimeBinary?: string;
  ports: PortMapping[];
  /** Keep the container's stdin open (a pipe nobody writes to), like `docker run -di`. */
  interactive?: boolean;
  /** Cleanup once the container has exited. */
  onExit?: ExitActions;
}

export interface DetachedOptions extends ContainerRunOptions {
  /** The supervisor entry script; default `dist/runtime/supervisor-main.js` of this package. */
  supervisorScript?: string;
  /** Default: this process's node (`process.execPath`). */
  nodeBinary?: string;
  /** How long to wait for the container to start (default 30 s). */
  timeoutMs?: number;
  /** Keep stdin open (`-di`): a shell then waits instead of exiting at end of input. */
  interactive?: boolean;
}

/**
 * The compiled entry script. From `dist/` it sits beside this module; when this module runs from
 * `src/` (tests under vitest) it is the build's copy in `dist/`, which must exist.
 */
export function supervisorScript(): string {
  const here = import.meta.dirname;
  const beside = path.join(here, 'supervisor-main.js');
  if (existsSync(beside)) return beside;
  const built = path.resolve(here, '..', '..', 'dist', 'runtime', 'supervisor-main.js');
  if (existsSync(built)) return built;
  throw new CairnError('unsupported', `the supervisor is not built (${built} is missing): run npm run build`, { path: built });
}

/**
 * Starts the container under a detached supervisor; resolves with its `running` state.
 *
 * @throws CairnError from the supervisor: 'conflict' for a published port in use,
 *   'process-failed' ("container start failed: ...") when the process cannot start. The state
 *   file records the failure too.
 * @example
 * const state = await startDetached({ containerDir, spec, ports: [parsePublish('127.0.0.1:8080:80')] });
 * state.pid?.pid // the container's first process
 */
export async function startDetached(opts: DetachedOptions): Promise<ContainerState> {
  await assertNotRunning(opts.containerDir);
  const paths = containerPaths(opts.containerDir);
  const runtime = resolveRuntime(opts.runtime);
  if (opts.spec.process.terminal && runtime.name !== 'runc') {
    // The supervisor gives runc a pty of its own to run the container's terminal from; the
    // fallback has no such copying of its own.
    throw new CairnError('unsupported', `a detached container with a terminal (-dt) needs runc, not ${runtime.name}: run it without -t, or attached`, { runtime: runtime.name });
  }
  const script = opts.supervisorScript ?? supervisorScript();
  await mkdir(paths.dir, { recursive: true });
  const binary = runtimeBinaryOf(runtime);
  const config: SupervisorConfig = { id: runtimeId(opts), runtime: runtime.name, ...(binary ? { runtimeBinary: binary } : {}), ports: [...(opts.ports ?? [])], ...(opts.interactive ? { interactive: true } : {}), ...(opts.onExit ? { onExit: opts.onExit } : {}) };
  await Promise.all([writeFile(paths.supervisorConfig, JSON.stringify(config)), writeFile(paths.config, JSON.stringify(opts.spec))]);

  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const logFd = openSync(paths.supervisorLog, 'a');
  let child;
  try {
    child = spawn(opts.nodeBinary ?? process.execPath, [script, paths.dir], {
      detached: true,
      cwd: '/',
      env,
      stdio: ['ignore', logFd, logFd, 'pipe'],
    });
  } finally {
    closeSync(logFd);
  }
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  const answer = await new Promise<ReadyMessage | null>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(null), opts.timeoutMs ?? 30_000);
    ready.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(text.slice(0, nl)) as ReadyMessage);
        } catch {
          resolve(null);
        }
      }
    });
    ready.on('error', () => undefined);
    child.once('error', () => resolve(null));
    child.once('exit', () => {
      clearTimeout(timer);
      setImmediate(() => resolve(null)); // a final line still in the pipe wins
    });
  });
  // From here the supervisor lives on its own: nothing of ours may keep this process waiting.
  (ready as unknown as { destroy?: () => void }).destroy?.();
  child.unref();
  if (answer?.ok && answer.state) return answer.state;
  if (answer) throw readyError(answer);
  // No answer in time: a supervisor still starting would race our error; it tears down on SIGTERM.
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  throw new CairnError('process-failed', `the supervisor did not start the container; see ${paths.supervisorLog}`, { containerDir: paths.dir, log: paths.supervisorLog });
}
