/**
 * @module runtime/unshare
 * The fallback runtime for machines without runc: util-linux only (`unshare`, `nsenter`,
 * `setpriv`, `prlimit`, `mount`), driven by the same runtime-spec object as runc.
 *
 * A container is one chain of execs under `unshare --fork --kill-child --pid --mount --uts --ipc
 * [--net] --mount-proc=<rootfs>/proc`, whose forked child (pid 1 of the new pid namespace) is a
 * host `/bin/sh` that mounts /dev (tmpfs with the standard device nodes bound from the host),
 * /dev/pts, /dev/shm, /dev/mqueue, /sys, the masked and read-only paths, sets the hostname and
 * brings loopback up, then execs `env -i <env> prlimit <rlimits> setpriv --no-new-privs
 * --bounding-set <caps> unshare --root=<rootfs> --wd=<cwd> [--setuid --setgid] <args>`: the last
 * exec keeps pid 1. unshare's fd 2 is a channel to us, and the container's stderr travels as
 * fd 3 until that exec: setup errors (and unshare's own) never reach the container's stderr, the
 * setup writes `READY` on the channel just before the final exec, and a failed setup is
 * reported as `container start failed: <mount's message>`. When `unshare` dies, `--kill-child` kills pid 1
 * and with it the whole pid namespace.
 *
 * Differences from runc, by construction: no cgroups and no device cgroup, no seccomp (neither
 * has one here), no supplementary groups for a non-root user (`unshare --setgid` clears them), no
 * pty of its own (`terminal` uses the caller's terminal when stdio is inherited), and `exec` runs
 * with root's full capabilities (`nsenter` must enter the namespaces before dropping anything).
 * The mounts happen in a private mount namespace, so nothing they do is visible on the host.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { rootPath } from '../layer/scoped-path.js';
import { track } from './launch.js';
import { childPids } from './proc.js';
import { shQuote } from './runc.js';
import type { ExecLaunchOptions, Launched, LaunchOptions, ProcessSpec, Runtime, RuntimeContext, RuntimeSpec } from './types.js';

const TOOLS = ['unshare', 'nsenter', 'setpriv', 'prlimit', 'mount', 'env'] as const;
/** Needed only by some containers: `hostname` to set one, `ip` to bring up a private loopback. */
const OPTIONAL_TOOLS = ['hostname', 'ip'] as const;
type Tools = Record<(typeof TOOLS)[number], string> & Partial<Record<(typeof OPTIONAL_TOOLS)[number], string>>;

function need(tool: string | undefined, name: string, why: string): string {
  if (tool === undefined) throw new CairnError('unsupported', `the unshare runtime needs ${name} ${why}`, { missing: [name] });
  return tool;
}

async function which(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      const st = await stat(candidate);
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Finds `command` the way execvp in the container would: inside `rootfs`, through the
 * container's PATH (symlinks resolved inside the rootfs). Returns the reason it cannot run, or null.
 */
export async function lookPathInRoot(rootfs: string, command: string, env: readonly string[], cwd: string): Promise<string | null> {
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/bin:/usr/bin:/bin';
  const candidates = command.includes('/')
    ? [path.posix.resolve(cwd, command)]
    : pathVar.split(':').map((dir) => path.posix.join(dir === '' ? cwd : dir, command));
  for (const candidate of candidates) {
    try {
      const st = await stat(await rootPath(rootfs, candidate.slice(1)));
      if (st.isFile() && (st.mode & 0o111) !== 0) return null;
      if (command.includes('/')) return `exec: "${command}": permission denied`;
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
  }
  return command.includes('/') ? `exec: "${command}": no such file or directory` : `exec: "${command}": executable file not found in $PATH`;
}

function capName(cap: string): string {
  return cap.replace(/^CAP_/, '').toLowerCase();
}

const RLIMIT_FLAGS: Readonly<Record<string, string>> = {
  RLIMIT_NOFILE: '--nofile',
  RLIMIT_NPROC: '--nproc',
  RLIMIT_CORE: '--core',
  RLIMIT_STACK: '--stack',
  RLIMIT_MEMLOCK: '--memlock',
  RLIMIT_FSIZE: '--fsize',
  RLIMIT_AS: '--as',
  RLIMIT_CPU: '--cpu',
  RLIMIT_NICE: '--nice',
  RLIMIT_RTPRIO: '--rtprio',
  RLIMIT_SIGPENDING: '--sigpending',
  RLIMIT_MSGQUEUE: '--msgqueue',
};

/** The setup script run as pid 1 before the final exec (see the module comment). */
function setupScript(spec: RuntimeSpec, tools: Tools, hostNetwork: boolean): string {
  const R = shQuote(spec.root.path);
  const m = shQuote(tools.mount);
  // fd 2 is our channel (setup errors, READY, unshare's own complaints); fd 3 is the
  // container's stderr, moved to fd 2 just before the final exec.
  const lines = ['set -e'];
  if (spec.root.readonly) lines.push(`${m} --rbind ${R} ${R}`, `${m} -o remount,bind,ro ${R}`);
  lines.push(
    `${m} -t tmpfs -o nosuid,noexec,strictatime,mode=755,size=65536k tmpfs ${R}/dev`,
    `for d in null zero full random urandom tty; do : > ${R}/dev/$d; ${m} --bind /dev/$d ${R}/dev/$d; done`,
    `mkdir ${R}/dev/pts ${R}/dev/shm ${R}/dev/mqueue`,
    `${m} -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5 devpts ${R}/dev/pts`,
    `ln -s pts/ptmx ${R}/dev/ptmx; ln -s /proc/self/fd ${R}/dev/fd`,
    `ln -s /proc/self/fd/0 ${R}/dev/stdin; ln -s /proc/self/fd/1 ${R}/dev/stdout; ln -s /proc/self/fd/2 ${R}/dev/stderr`,
    `${m} -t tmpfs -o nosuid,noexec,nodev,mode=1777,size=65536k shm ${R}/dev/shm`,
    `${m} -t mqueue -o nosuid,noexec,nodev mqueue ${R}/dev/mqueue`,
    // sysfs shows the network namespace it is mounted in: with the host's, bind the host's read-only.
    hostNetwork
      ? `if [ -d ${R}/sys ]; then ${m} --rbind /sys ${R}/sys; ${m} -o remount,bind,ro ${R}/sys; fi`
      : `if [ -d ${R}/sys ]; then ${m} -t sysfs -o ro,nosuid,noexec,nodev sysfs ${R}/sys; fi`,
  );
  for (const p of spec.linux.maskedPaths ?? []) {
    const t = `${R}${shQuote(p)}`;
    lines.push(`if [ -d ${t} ]; then ${m} -t tmpfs -o ro,size=0 tmpfs ${t}; elif [ -e ${t} ]; then ${m} --bind /dev/null ${t}; fi`);
  }
  for (const p of spec.linux.readonlyPaths ?? []) {
    const t = `${R}${shQuote(p)}`;
    lines.push(`if [ -e ${t} ]; then ${m} --bind ${t} ${t}; ${m} -o remount,bind,ro ${t}; fi`);
  }
  if (spec.hostname !== undefined) lines.push(`${shQuote(need(tools.hostname, 'hostname', 'to set a hostname'))} ${shQuote(spec.hostname)}`);
  if (!hostNetwork) lines.push(`${shQuote(need(tools.ip, 'ip (iproute2)', 'to bring up loopback'))} link set lo up`);
  lines.push('echo READY >&2', 'exec 2>&3 3>&-', 'exec "$@"');
  return lines.join('\n');
}

/** `env -i ENV... prlimit ... setpriv ... unshare --root ... -- ARGS`: the exec chain after setup. */
function finalChain(p: ProcessSpec, root: string, tools: Tools): string[] {
  const chain = [tools.env, '-i', ...p.env];
  if (p.rlimits && p.rlimits.length > 0) {
    chain.push(tools.prlimit);
    for (const r of p.rlimits) {
      const flag = RLIMIT_FLAGS[r.type];
      if (flag) chain.push(`${flag}=${r.soft}:${r.hard}`);
    }
    chain.push('--');
  }
  chain.push(tools.setpriv);
  if (p.noNewPrivileges) chain.push('--no-new-privs');
  const caps = p.capabilities?.bounding ?? [];
  chain.push(`--bounding-set=-all${caps.map((c) => `,+${capName(c)}`).join('')}`, '--inh-caps=-all', '--');
  chain.push(tools.unshare, `--root=${root}`, `--wd=${p.cwd}`);
  if (p.user.uid !== 0 || p.user.gid !== 0) chain.push('--setgid', String(p.user.gid), '--setuid', String(p.user.uid));
  chain.push('--', ...p.args);
  return chain;
}

export class UnshareRuntime implements Runtime {
  readonly name = 'unshare' as const;
  #tools: Promise<Tools> | undefined;

  /** The util-linux tools, found on PATH once. @throws CairnError 'unsupported' naming the missing ones. */
  tools(): Promise<Tools> {
    this.#tools ??= (async () => {
      const found = await Promise.all([...TOOLS, ...OPTIONAL_TOOLS].map(async (t) => [t, await which(t)] as const));
      const missing = found.filter(([t, p]) => p === null && (TOOLS as readonly string[]).includes(t)).map(([t]) => t);
      if (missing.length > 0) {
        throw new CairnError('unsupported', `the unshare runtime needs ${missing.join(', ')} (util-linux)`, { missing });
      }
      return Object.fromEntries(found.filter(([, p]) => p !== null)) as Tools;
    })();
    this.#tools.catch(() => {
      this.#tools = undefined;
    });
    return this.#tools;
  }

  async launch(opts: LaunchOptions): Promise<Launched> {
    const tools = await this.tools();
    const { spec } = opts;
    const p = spec.process;
    const notRunnable = await lookPathInRoot(spec.root.path, p.args[0] ?? '', p.env, p.cwd);
    if (notRunnable) throw new CairnError('process-failed', `container start failed: ${notRunnable}`, { runtime: 'unshare', command: p.args[0], reason: notRunnable });
    const hostNetwork = !spec.linux.namespaces.some((n) => n.type === 'network');
    const args = ['--fork', '--kill-child=SIGKILL', '--pid', '--mount', '--uts', '--ipc', '--propagation', 'private'];
    if (!hostNetwork) args.push('--net');
    args.push(`--mount-proc=${spec.root.path}/proc`, '--', '/bin/sh', '-c', setupScript(spec, tools, hostNetwork), 'sh');
    args.push(...finalChain(p, spec.root.path, tools));

    // fd 3 carries the container's stderr past unshare, which keeps fd 2 (see setupScript).
    const [stdin, stdout, stderr] = opts.stdio;
    const stderrSlot = stderr === 'inherit' ? 2 : stderr === 'ignore' ? 'pipe' : stderr;
    const child = spawn(tools.unshare, args, { stdio: [stdin, stdout, 'pipe', stderrSlot], detached: opts.detached ?? false });
    const channel: Buffer[] = [];
    let ready = false;
    const channelClosed = new Promise<void>((resolve) => {
      if (!child.stderr) return resolve();
      child.stderr.on('data', (c: Buffer) => {
        channel.push(c);
        if (!ready && Buffer.concat(channel).toString('utf8').includes('READY\n')) ready = true;
      });
      child.stderr.on('end', resolve);
      child.stderr.on('error', () => resolve());
    });
    const channelText = async (): Promise<string> => {
      await channelClosed;
      return Buffer.concat(channel).toString('utf8');
    };
    const containerStderr = (child.stdio[3] as Readable | null | undefined) ?? null;
    if (stderr === 'ignore') containerStderr?.resume();
    return track(child, tools.unshare, {
      what: 'container start',
      data: { runtime: 'unshare', command: p.args[0] },
      stderr: stderr === 'ignore' ? null : containerStderr,
      signal: (sig, pid) => {
        if (pid !== null && pid !== child.pid) process.kill(pid, sig);
      },
      // util-linux 2.38 cannot re-raise SIGKILL in itself after its child died of it: it says
      // "sigprocmask unblock failed" and exits 1. That is a SIGKILL death.
      mapStatus: async (status) => (status === 1 && (await channelText()).includes('sigprocmask unblock failed') ? 137 : status),
      // pid 1 of the container is unshare's only child, from the setup shell to the final exec.
      // Ready with no child means it has already exited: unshare's own pid stands in.
      findPid: async () => (ready && child.pid !== undefined ? ((await childPids(child.pid))[0] ?? child.pid) : null),
      startFailure: async (_status, started) => {
        if (started) return null;
        const text = (await channelText()).trim();
        return text === '' ? null : (text.split('\n').pop() ?? null);
      },
    });
  }

  async exec(opts: ExecLaunchOptions): Promise<Launched> {
    const tools = await this.tools();
    const p = opts.process;
    const notRunnable = await lookPathInRoot(opts.rootfs, p.args[0] ?? '', p.env, p.cwd);
    if (notRunnable) throw new CairnError('process-failed', `exec failed: ${notRunnable}`, { runtime: 'unshare', command: p.args[0], reason: notRunnable });
    const args = ['-i', ...p.env, tools.nsenter, `--target=${opts.pid}`, '--mount', '--uts', '--ipc', '--net', '--pid', '--root', `--wdns=${p.cwd}`];
    if (p.user.uid !== 0 || p.user.gid !== 0) args.push(`--setgid=${p.user.gid}`, `--setuid=${p.user.uid}`);
    args.push('--', ...p.args);
    const child = spawn(tools.env, args, { stdio: opts.stdio, detached: opts.detached ?? false });
    return track(child, tools.env, {
      what: 'exec',
      data: { runtime: 'unshare', command: p.args[0] },
      // nsenter waits for its child without forwarding signals: they go to the process itself.
      signal: (sig, pid) => {
        const target = pid ?? child.pid;
        if (target !== undefined) process.kill(target, sig);
      },
      // nsenter forks the process into the pid namespace; until then (or after) its own pid stands in.
      findPid: async () => (child.pid === undefined ? null : ((await childPids(child.pid))[0] ?? child.pid)),
      startFailure: async () => null,
    });
  }

  async kill(_ctx: RuntimeContext, pid: number, signal: NodeJS.Signals): Promise<void> {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if (errnoCode(err) !== 'ESRCH') throw err;
    }
  }

  async delete(ctx: RuntimeContext, pid: number | null): Promise<void> {
    if (pid !== null) await this.kill(ctx, pid, 'SIGKILL');
  }

  teardownCommand(_ctx: RuntimeContext, pid: number): string {
    return `kill -KILL ${pid}`;
  }
}
