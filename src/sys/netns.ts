/**
 * @module sys/netns
 * Sockets made inside another network namespace, for publishing container ports (design §6).
 *
 * `setns(CLONE_NEWNET)` moves only the calling thread, and a socket stays in the namespace it was
 * created in for its whole life. So the main thread steps into the container's namespace, calls
 * `socket()`, and steps straight back; no JavaScript runs in between, and libuv's worker threads
 * (DNS, fs) never move. The fd is then handed to `net.Socket({ fd })` and connected from the
 * host's side: the connection goes to the container's own loopback. This replaces the design's
 * first sketch (a forwarder process under `nsenter --net` behind a unix socket): no extra process
 * per container, no socket files to clean up, about 50 µs per connection.
 *
 * The step in, `socket()` and the step back happen inside one call of cairn's addon
 * (`sys/native`), loaded on first use: containers without published ports never load it.
 */
import { closeSync, openSync } from 'node:fs';
import { CairnError } from '../errors.js';
import { native, sysError } from './native.js';

/** An fd on the namespace this process started in: where the main thread always returns. */
let homeFd: number | undefined;

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/**
 * Opens the network namespace of process `pid` (`/proc/<pid>/ns/net`). The fd keeps the
 * namespace alive until closed, even after the process exits: close it with `closeNetns`.
 */
export function openNetns(pid: number): number {
  return openSync(`/proc/${pid}/ns/net`, 'r');
}

export function closeNetns(fd: number): void {
  closeSync(fd);
}

/**
 * A new non-blocking TCP socket (not yet connected) in the namespace `nsFd`, for
 * `new net.Socket({ fd })` then `connect()`.
 *
 * @throws a Node-style system error when the namespace cannot be entered or the socket made. If
 *   the thread cannot return to its own namespace the process is in an unknown state: that
 *   throws CairnError('process-failed') and the caller should exit.
 */
export function tcpSocketIn(nsFd: number, family: 4 | 6 = 4): number {
  const calls = native();
  homeFd ??= openSync('/proc/thread-self/ns/net', 'r');
  const domain = family === 4 ? AF_INET : AF_INET6;
  const made = calls.socketInNetns(nsFd, homeFd, domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (typeof made === 'number') return made;
  if (made.syscall === 'setns-home') {
    throw new CairnError('process-failed', `cannot return to the host network namespace (errno ${made.errno})`, {
      errno: made.errno,
    });
  }
  throw sysError(made.syscall, made.errno);
}
