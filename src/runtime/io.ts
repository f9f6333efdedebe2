/**
 * @module runtime/io
 * How a caller attaches to a container process (`run` without `-d`, `exec`): its stdio choice
 * turned into what the supervisor wires, and signal forwarding for a CLI in a terminal.
 *
 * - `'inherit'` with a terminal (`-t`): the runtime gets our fds as they are and runs the pty
 *   itself (raw mode, window size); nothing is copied and nothing is logged.
 * - `'inherit'` without one: stdout and stderr are pipes copied to ours (so the runtime's own
 *   error text can be held back, and docker's "pipes, not a tty" is what the process sees); stdin
 *   is ours only with `interactive` (`-i`), else /dev/null.
 * - streams: the same with the given streams (tests, the library).
 */
import type { Readable, Writable } from 'node:stream';
import type { SupervisedIO } from './supervisor.js';

export type Stdio = 'inherit' | { stdin?: Readable; stdout?: Writable; stderr?: Writable };

export function supervisedIO(stdio: Stdio | undefined, tty: boolean, interactive: boolean): SupervisedIO {
  if (stdio === 'inherit') {
    if (tty) return { inheritTerminal: true };
    // The cairn command's process.stdout/stderr write straight to the descriptors (bin/cairn.js):
    // a container that prints nothing makes no stream.
    return { ...(interactive ? { stdin: 'inherit' as const } : {}), stdout: process.stdout, stderr: process.stderr };
  }
  const io: SupervisedIO = {};
  if (stdio?.stdin && interactive) io.stdin = stdio.stdin;
  if (stdio?.stdout) io.stdout = stdio.stdout;
  if (stdio?.stderr) io.stderr = stdio.stderr;
  return io;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/**
 * Forwards the signals a terminal user sends us to `deliver` (docker's sig-proxy), plus SIGWINCH
 * with a terminal, until the returned function is called. The runtime runs in its own process
 * group, so a Ctrl-C reaches the container once, through here.
 */
export function forwardSignals(deliver: (signal: NodeJS.Signals) => void, tty: boolean): () => void {
  const signals = tty ? [...FORWARDED, 'SIGWINCH' as const] : FORWARDED;
  const handlers = signals.map((sig) => {
    const handler = (): void => deliver(sig);
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return () => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  };
}
