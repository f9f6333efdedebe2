/**
 * TCP ports on 127.0.0.1 for tests that publish container ports: a port the kernel just handed
 * out and that is free again (`freePort`), several distinct ones at once (`freePorts`), a port
 * held by a listener of the test's own (`holdPort`, for "port already in use" cases), and a probe
 * (`isListening`). Nothing here binds anything but the loopback address.
 *
 * A free port can be taken by someone else between `freePort` and its use; the kernel hands out
 * ephemeral ports round-robin, so within one test run that does not happen in practice.
 *
 * @module
 */
import { connect, createServer, type Server } from 'node:net';

const LOOPBACK = '127.0.0.1';

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). */
export async function freePort(): Promise<number> {
  const server = createServer();
  try {
    return await listen(server, 0);
  } finally {
    await close(server);
  }
}

/** `count` distinct free ports: all are held at once while choosing, so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    const ports: number[] = [];
    for (const server of servers) ports.push(await listen(server, 0));
    return ports;
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** A port held by a listener of this process until `release()` (for "already in use" tests). */
export interface HeldPort {
  readonly port: number;
  release(): Promise<void>;
}

/** Binds a free port on 127.0.0.1 and keeps it; always `release()` it (finally/afterEach). */
export async function holdPort(): Promise<HeldPort> {
  const server = createServer((socket) => socket.destroy());
  const port = await listen(server, 0);
  let released: Promise<void> | undefined;
  return { port, release: () => (released ??= close(server)) };
}

/** Whether anything accepts TCP connections on 127.0.0.1:PORT (gives up after `timeoutMs`). */
export function isListening(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: LOOPBACK });
    const done = (result: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
