// Sockets made in another network namespace (sys/netns): the socket lives in the container's
// namespace while the calling thread comes straight back to its own; bad descriptors fail with
// setns's error and leave the thread home.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeNetns, openNetns, tcpSocketIn } from '../../src/sys/netns.js';
import { skipWithoutTools } from '../support/tools.js';

const ownNetns = () => readlinkSync('/proc/thread-self/ns/net');
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A listener on the host's loopback; resolves to its port. */
async function hostListener(): Promise<number> {
  const server: Server = createServer((s) => {
    s.on('error', () => {}); // the test's client hangs up at once
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/** Connects the socket `fd` to 127.0.0.1:port: 'connected' or the error code. */
function connectFd(fd: number, port: number): Promise<string> {
  const socket = new Socket({ fd, readable: true, writable: true });
  return new Promise((resolve) => {
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code ?? 'error');
    });
    socket.connect(port, '127.0.0.1');
  });
}

/** A process in a new network namespace of its own (loopback down, nothing listening). */
async function isolatedProcess(): Promise<ChildProcess> {
  const child = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  const home = ownNetns();
  // unshare execs sleep once the namespace exists: wait until the pid's namespace differs.
  for (let i = 0; i < 200; i++) {
    try {
      if (readlinkSync(`/proc/${child.pid}/ns/net`) !== home && readlinkSync(`/proc/${child.pid}/exe`).endsWith('sleep')) return child;
    } catch {
      // not there yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('unshare --net did not start');
}

describe('tcpSocketIn', () => {
  it('makes a socket in the host namespace when given the host namespace', async () => {
    const port = await hostListener();
    const ns = openNetns(process.pid);
    cleanups.push(() => closeNetns(ns));
    expect(await connectFd(tcpSocketIn(ns), port)).toBe('connected');
    expect(ownNetns()).toBe(readlinkSync(`/proc/${process.pid}/ns/net`));
  });

  it.skipIf(skipWithoutTools('unshare'))('makes the socket inside another namespace and returns the thread home', async () => {
    const home = ownNetns();
    const port = await hostListener();
    const child = await isolatedProcess();
    const ns = openNetns(child.pid ?? 0);
    cleanups.push(() => closeNetns(ns));
    const fd = tcpSocketIn(ns);
    expect(ownNetns()).toBe(home);
    // The host's listener is not reachable from the isolated namespace (its loopback is down).
    expect(await connectFd(fd, port)).toBe('ENETUNREACH');
  });

  it('throws setns\'s EBADF for a descriptor that is not a namespace, and stays home', () => {
    const home = ownNetns();
    expect(() => tcpSocketIn(-1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'setns' }));
    expect(ownNetns()).toBe(home);
  });
});
