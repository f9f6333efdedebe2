/**
 * @module runtime/ports
 * Publishing container ports (`-p [IP:]HOST:CTR[/tcp]`) without container IP addresses or
 * iptables (design §6): a TCP listener on the host, and for every connection a socket made
 * inside the container's network namespace (sys/netns) that connects to the container's own
 * loopback, `127.0.0.1:CTR` (or `[::1]:CTR` when nothing listens on IPv4). Bytes are piped both
 * ways with half-close kept, so a client that shuts its side down still reads the reply.
 *
 * Several containers can publish different host ports to the same container port: each
 * container has its own loopback. The listeners are bound before the container starts, so a
 * host port already in use is a clear error and the container never runs. Connections that
 * arrive before the container is up wait for it.
 */
import { createServer, isIP, isIPv6, Socket, type Server } from 'node:net';
import { CairnError, errnoCode } from '../errors.js';
import { closeNetns, openNetns, tcpSocketIn } from '../sys/netns.js';

export interface PortMapping {
  /** The host address to listen on: `0.0.0.0` (all, docker's default), `127.0.0.1`, `::`... */
  hostIp: string;
  /** 0 asks the kernel for a free port; the bound mapping then holds the real one. */
  hostPort: number;
  containerPort: number;
  protocol: 'tcp';
}

function port(text: string, spec: string, allowZero: boolean): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
    throw new CairnError('invalid-argument', `invalid port "${text}" in -p ${spec}`, { spec });
  }
  return n;
}

/**
 * Parses docker's `-p` forms: `CTR` (a free host port), `HOST:CTR`, `IP:HOST:CTR`, `IP::CTR`,
 * `[IPv6]:HOST:CTR`, each optionally with `/tcp`.
 *
 * @throws CairnError 'unsupported' for `/udp` and `/sctp`, 'invalid-argument' for the rest.
 * @example
 * parsePublish('127.0.0.1:8080:80') // { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }
 */
export function parsePublish(spec: string): PortMapping {
  let rest = spec;
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1);
    if (proto !== 'tcp') {
      throw new CairnError(proto === 'udp' || proto === 'sctp' ? 'unsupported' : 'invalid-argument', `-p ${spec}: only tcp ports can be published`, { spec });
    }
    rest = rest.slice(0, slash);
  }
  let hostIp = '0.0.0.0';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) throw new CairnError('invalid-argument', `invalid -p ${spec}`, { spec });
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
    if (!rest.includes(':')) rest = `:${rest}`;
  }
  const parts = rest.split(':');
  if (parts.length === 3) {
    hostIp = parts[0] as string;
    parts.shift();
  }
  if (isIP(hostIp) === 0) throw new CairnError('invalid-argument', `invalid host address "${hostIp}" in -p ${spec}`, { spec });
  if (parts.length === 1) return { hostIp, hostPort: 0, containerPort: port(parts[0] as string, spec, false), protocol: 'tcp' };
  if (parts.length !== 2) throw new CairnError('invalid-argument', `invalid -p ${spec}: expected [IP:]HOST:CONTAINER`, { spec });
  const hostText = parts[0] as string;
  return { hostIp, hostPort: hostText === '' ? 0 : port(hostText, spec, true), containerPort: port(parts[1] as string, spec, false), protocol: 'tcp' };
}

/** `IP:PORT` as a user reads it (`[::1]:80` for IPv6). */
export function formatHostPort(m: Pick<PortMapping, 'hostIp' | 'hostPort'>): string {
  return isIPv6(m.hostIp) ? `[${m.hostIp}]:${m.hostPort}` : `${m.hostIp}:${m.hostPort}`;
}

function listen(mapping: PortMapping, onConnection: (client: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
    server.once('error', (err) => {
      const where = formatHostPort(mapping);
      if (errnoCode(err) === 'EADDRINUSE') {
        reject(new CairnError('conflict', `cannot publish port ${mapping.hostPort}: ${where} is already in use`, { ...mapping }, { cause: err }));
      } else {
        reject(new CairnError('process-failed', `cannot listen on ${where}: ${err.message}`, { ...mapping }, { cause: err }));
      }
    });
    server.listen({ host: mapping.hostIp, port: mapping.hostPort, exclusive: true }, () => resolve(server));
  });
}

/** Connects a socket made in namespace `nsFd` to the container's loopback on `port`. */
function connectInside(nsFd: number, port: number, family: 4 | 6): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const fd = tcpSocketIn(nsFd, family);
    const socket = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
    socket.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
    socket.connect(port, family === 4 ? '127.0.0.1' : '::1', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** The host listeners of one container and the connections they carry. */
export class PortProxy {
  readonly #servers: Server[];
  readonly #bound: PortMapping[];
  readonly #sockets = new Set<Socket>();
  #nsFd: number | undefined;
  #attach!: (fd: number) => void;
  #abandon!: (err: Error) => void;
  readonly #attached: Promise<number>;
  #closed = false;

  private constructor(servers: Server[], bound: PortMapping[]) {
    this.#servers = servers;
    this.#bound = bound;
    this.#attached = new Promise<number>((resolve, reject) => {
      this.#attach = resolve;
      this.#abandon = reject;
    });
    this.#attached.catch(() => undefined);
  }

  /**
   * Binds every host port now (all or nothing).
   * @throws CairnError 'conflict' naming the first port already in use.
   */
  static async listen(mappings: readonly PortMapping[]): Promise<PortProxy> {
    const servers: Server[] = [];
    const bound: PortMapping[] = [];
    let proxy: PortProxy | undefined;
    try {
      for (const mapping of mappings) {
        const index = bound.length;
        const server = await listen(mapping, (client) => {
          // Only in the instant before every port is bound: refuse, as if not yet listening.
          if (proxy) void proxy.#forward(client, index);
          else client.destroy();
        });
        servers.push(server);
        const addr = server.address();
        bound.push({ ...mapping, hostPort: typeof addr === 'object' && addr ? addr.port : mapping.hostPort });
      }
    } catch (err) {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
      throw err;
    }
    proxy = new PortProxy(servers, bound);
    return proxy;
  }

  /** The mappings as bound. */
  get bound(): PortMapping[] {
    return this.#bound.map((m) => ({ ...m }));
  }

  /** Starts forwarding into the network namespace of process `pid` (the container's first process). */
  attach(pid: number): void {
    if (this.#closed || this.#nsFd !== undefined) return;
    this.#nsFd = openNetns(pid);
    this.#attach(this.#nsFd);
  }

  async #forward(client: Socket, index: number): Promise<void> {
    this.#sockets.add(client);
    client.once('close', () => this.#sockets.delete(client));
    client.on('error', () => client.destroy());
    const mapping = this.#bound[index] as PortMapping;
    let upstream: Socket;
    try {
      const nsFd = await this.#attached;
      try {
        upstream = await connectInside(nsFd, mapping.containerPort, 4);
      } catch (err) {
        if (errnoCode(err) !== 'ECONNREFUSED') throw err;
        upstream = await connectInside(nsFd, mapping.containerPort, 6);
      }
    } catch {
      client.destroy(); // nothing listens in the container (yet): the client sees a reset, as with docker-proxy
      return;
    }
    if (this.#closed || client.destroyed) {
      upstream.destroy();
      client.destroy();
      return;
    }
    this.#sockets.add(upstream);
    // A clean end travels through pipe() as a half-close (and flushes what is buffered); only
    // an error on one side tears down the other at once.
    upstream.once('close', (hadError) => {
      this.#sockets.delete(upstream);
      if (hadError) client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.once('close', (hadError) => {
      if (hadError) upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  /** Stops listening and drops every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abandon(new Error('closed'));
    for (const s of this.#sockets) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise((r) => s.close(r))));
    if (this.#nsFd !== undefined) closeNetns(this.#nsFd);
  }
}
