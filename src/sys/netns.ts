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
 * Loaded on first use, like `sys/libc`: containers without published ports never load koffi.
 */
import { createRequire } from 'node:module';
import { closeSync, openSync } from 'node:fs';
import { CairnError } from '../errors.js';
import { sysError } from './libc.js';

type KoffiModule = typeof import('koffi');
type NativeFn = (...args: unknown[]) => number;

interface NetnsCalls {
  koffi: KoffiModule;
  setns: NativeFn;
  socket: NativeFn;
  close: NativeFn;
}

let cached: NetnsCalls | undefined;
/** An fd on the namespace this process started in: where the main thread always returns. */
let homeFd: number | undefined;

function calls(): NetnsCalls {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new CairnError('unsupported', `network namespaces exist on Linux only (this is ${process.platform})`);
  }
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as KoffiModule;
  const lib = koffi.load('libc.so.6');
  cached = {
    koffi,
    setns: lib.func('int setns(int fd, int nstype)') as NativeFn,
    socket: lib.func('int socket(int domain, int type, int protocol)') as NativeFn,
    close: lib.func('int close(int fd)') as NativeFn,
  };
  return cached;
}

const CLONE_NEWNET = 0x40000000;
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
  const { koffi, setns, socket, close } = calls();
  homeFd ??= openSync('/proc/thread-self/ns/net', 'r');
  if (setns(nsFd, CLONE_NEWNET) !== 0) throw sysError('setns', koffi.errno());
  const fd = socket(family === 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const socketErrno = fd < 0 ? koffi.errno() : 0;
  if (setns(homeFd, CLONE_NEWNET) !== 0) {
    const errno = koffi.errno();
    if (fd >= 0) close(fd);
    throw new CairnError('process-failed', `cannot return to the host network namespace (errno ${errno})`, { errno });
  }
  if (fd < 0) throw sysError('socket', socketErrno);
  return fd;
}
