/**
 * @module runtime/spec
 * Image config + run options → OCI runtime-spec `config.json` (image-spec conversion.md), and
 * the `process.json` of an exec into a running container.
 *
 * What comes from the image (conversion.md): `WorkingDir` → `process.cwd`; `Env` → `process.env`;
 * `Entrypoint` + `Cmd` → `process.args`; `User` → `process.user` (runtime/user); os, architecture,
 * variant, os.version, os.features, author, created, StopSignal and ExposedPorts → annotations,
 * with `Labels` taking precedence over every implicit annotation. Run options are "externally
 * provided inputs" and may change anything. Our own defaults (PATH, HOME, HOSTNAME, TERM) are
 * only added when the image and the options do not name the variable ("SHOULD NOT add entries
 * that have variable names present in Config.Env").
 *
 * The rest (namespaces, mounts, capabilities, masked paths, rlimits) is runtime/defaults.
 * `spec-notes/runtime-config.md` lists every rule with the test that checks it.
 */
import path from 'node:path';
import { CairnError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';
import {
  containerRlimits,
  defaultMounts,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  readHardLimits,
  type HardLimits,
} from './defaults.js';
import type { NetworkMode, ProcessSpec, RuntimeSpec, SpecCapabilities, SpecMount, SpecRlimit } from './types.js';
import { readRootfsFile, resolveUser, type ResolvedUser } from './user.js';

/** docker's PATH for images that set none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SpecOptions {
  /** The container's root filesystem on the host (absolute). Users are resolved in it. */
  rootfs: string;
  /** Replaces the image's `Cmd` (`docker run IMAGE ARGS...`). */
  args?: readonly string[];
  /**
   * Replaces the image's `Entrypoint`. Like docker, a non-empty one also drops the image's `Cmd`
   * (only `args` follow it); `[]` clears the entrypoint and keeps `Cmd`.
   */
  entrypoint?: readonly string[];
  /** `NAME=VALUE` entries added to (or replacing) the image's `Env`. */
  env?: readonly string[];
  /** Replaces `WorkingDir` (must be absolute). */
  workdir?: string;
  /** Replaces `User`: `uid[:gid]` or `name[:group]`, resolved in the rootfs. */
  user?: string;
  /** The UTS hostname; also `HOSTNAME` in the environment. Unset: the runtime's default. */
  hostname?: string;
  /** Allocate a terminal for the process (`-t`); adds `TERM=xterm` unless set. */
  tty?: boolean;
  /** Default `private`. */
  network?: NetworkMode;
  /** Mount the root filesystem read-only (`--read-only`). */
  readonlyRootfs?: boolean;
  /** Set `process.noNewPrivileges` (default true: setuid binaries gain nothing). */
  noNewPrivileges?: boolean;
  /** More rlimits (`--ulimit`), each within the current hard limit. */
  rlimits?: readonly SpecRlimit[];
  /** More annotations, applied last (they win over the image's). */
  annotations?: Readonly<Record<string, string>>;
  /** The hard limits to stay within; default: this process's (`/proc/self/limits`). */
  hardLimits?: HardLimits;
}

const ENV_NAME = /^[^=\0]+$/;

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** `base` with every entry of `changes` added, replacing an entry of the same name in place. */
export function mergeEnv(base: readonly string[], changes: readonly string[]): string[] {
  const out = [...base];
  for (const entry of changes) {
    const name = envName(entry);
    if (!entry.includes('=') || !ENV_NAME.test(name)) {
      throw new CairnError('invalid-argument', `invalid environment entry "${entry}": expected NAME=VALUE`, { entry });
    }
    const at = out.findIndex((e) => envName(e) === name);
    if (at >= 0) out[at] = entry;
    else out.push(entry);
  }
  return out;
}

/** Adds `NAME=value` only when no entry names `NAME` (our defaults never override). */
function addDefault(env: string[], name: string, value: string): void {
  if (!env.some((e) => envName(e) === name)) env.push(`${name}=${value}`);
}

/** The process arguments: conversion.md's Entrypoint + Cmd, with docker's override rules. */
export function processArgs(image: ImageConfig, opts: Pick<SpecOptions, 'args' | 'entrypoint'>): string[] {
  const entrypoint = opts.entrypoint ?? image.config?.Entrypoint ?? [];
  // docker (moby daemon/commit.go merge): arguments replace Cmd; a non-empty --entrypoint also
  // drops the image's Cmd, an empty one (`--entrypoint ""`) keeps it.
  const overridden = opts.entrypoint !== undefined && opts.entrypoint.length > 0;
  const cmd = opts.args && opts.args.length > 0 ? opts.args : overridden ? [] : (image.config?.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new CairnError('invalid-argument', 'no command specified: the image has no Entrypoint or Cmd and none was given', {});
  }
  return args;
}

function absoluteDir(dir: string, what: string): string {
  if (dir === '') return '/';
  if (!dir.startsWith('/')) {
    throw new CairnError('invalid-argument', `${what} must be an absolute path, got "${dir}"`, { path: dir });
  }
  return path.posix.resolve(dir);
}

/** The implicit annotations of conversion.md, then `Labels` over them, then ours over all. */
export function imageAnnotations(image: ImageConfig): Record<string, string> {
  const a: Record<string, string> = {};
  const set = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') a[`org.opencontainers.image.${key}`] = value;
  };
  set('os', image.os);
  set('architecture', image.architecture);
  set('variant', image.variant);
  set('os.version', image['os.version']);
  set('os.features', image['os.features']?.join(','));
  set('author', image.author);
  set('created', image.created);
  set('stopSignal', image.config?.StopSignal);
  const ports = Object.keys(image.config?.ExposedPorts ?? {});
  if (ports.length > 0) set('exposedPorts', ports.join(','));
  // "the value specified in Config.Labels MUST take precedence"
  Object.assign(a, image.config?.Labels ?? {});
  return a;
}

/** Capabilities for a process of `uid`: the default set; none effective for non-root (docker). */
function capabilities(uid: number): SpecCapabilities {
  const all = [...DEFAULT_CAPABILITIES];
  return { bounding: all, effective: uid === 0 ? all : [], permitted: uid === 0 ? all : [] };
}

function userEnv(env: string[], user: ResolvedUser): void {
  addDefault(env, 'HOME', user.home ?? '/');
}

/** Host files a `host`-network container sees, when the image has a file there to mount over. */
async function hostNetworkMounts(rootfs: string): Promise<SpecMount[]> {
  const mounts: SpecMount[] = [];
  for (const file of ['etc/resolv.conf', 'etc/hosts']) {
    // Only over an existing file: creating the mount point would put it in the container's diff.
    if ((await readRootfsFile(rootfs, file)) === null) continue;
    mounts.push({ destination: `/${file}`, type: 'bind', source: `/${file}`, options: ['rbind', 'ro', 'rprivate'] });
  }
  return mounts;
}

/**
 * Generates the runtime config for running `image` with `opts`.
 *
 * @throws CairnError 'invalid-argument' (no command, bad env entry, relative workdir, rlimit above
 *   the hard limit), 'not-found' (user or group name not in the container's files).
 * @example
 * const spec = await generateSpec(config, { rootfs: '/store/containers/abc/rootfs', args: ['sh', '-c', 'echo hi'] });
 * await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
 */
export async function generateSpec(image: ImageConfig, opts: SpecOptions): Promise<RuntimeSpec> {
  if (!path.isAbsolute(opts.rootfs)) throw new CairnError('invalid-argument', `rootfs must be absolute: ${opts.rootfs}`, { rootfs: opts.rootfs });
  const network = opts.network ?? 'private';
  const args = processArgs(image, opts);
  const cwd = absoluteDir(opts.workdir ?? image.config?.WorkingDir ?? '/', 'the working directory');
  // Two independent reads (the rootfs's passwd/group, /proc/self/limits): at once.
  const [user, hardLimits] = await Promise.all([resolveUser(opts.rootfs, opts.user ?? image.config?.User), opts.hardLimits ?? readHardLimits()]);

  const env = mergeEnv(image.config?.Env ?? [], opts.env ?? []);
  addDefault(env, 'PATH', DEFAULT_PATH);
  if (opts.hostname !== undefined) addDefault(env, 'HOSTNAME', opts.hostname);
  if (opts.tty) addDefault(env, 'TERM', 'xterm');
  userEnv(env, user);

  const process: ProcessSpec = {
    terminal: opts.tty ?? false,
    user: { uid: user.uid, gid: user.gid, umask: 0o022, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
    args,
    env,
    cwd,
    capabilities: capabilities(user.uid),
    rlimits: containerRlimits(hardLimits, opts.rlimits),
    noNewPrivileges: opts.noNewPrivileges ?? true,
  };

  const namespaces: RuntimeSpec['linux']['namespaces'] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (network !== 'host') namespaces.splice(1, 0, { type: 'network' });

  const mounts = defaultMounts();
  if (network === 'host') mounts.push(...(await hostNetworkMounts(opts.rootfs)));

  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process,
    root: { path: opts.rootfs, readonly: opts.readonlyRootfs ?? false },
    mounts,
    annotations: { ...imageAnnotations(image), ...(opts.annotations ?? {}) },
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      // Deny every device, then runc allows its standard set (null, zero, full, tty, urandom, random, pts).
      resources: { devices: [{ allow: false, access: 'rwm' }] },
    },
  };
  if (opts.hostname !== undefined) spec.hostname = validHostname(opts.hostname);
  return spec;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/;

function validHostname(name: string): string {
  if (!HOSTNAME.test(name)) throw new CairnError('invalid-argument', `invalid hostname "${name}"`, { hostname: name });
  return name;
}

export interface ExecOptions {
  args: readonly string[];
  /** `NAME=VALUE` entries over the container's environment. */
  env?: readonly string[];
  /** Default: the container's working directory. */
  cwd?: string;
  /** Default: the container's user. A name is resolved in `rootfs`. */
  user?: string;
  tty?: boolean;
}

/**
 * The `process.json` for a process started in a running container: the container's process with
 * these args, its environment plus `env`, and the same capabilities, rlimits and privileges
 * (docker exec's rules: a different user gets that user's HOME and capabilities).
 */
export async function execProcess(container: RuntimeSpec, rootfs: string, opts: ExecOptions): Promise<ProcessSpec> {
  if (opts.args.length === 0) throw new CairnError('invalid-argument', 'exec needs a command', {});
  const base = container.process;
  let user = base.user;
  let env = mergeEnv(base.env, opts.env ?? []);
  let caps = base.capabilities;
  if (opts.user !== undefined) {
    const resolved = await resolveUser(rootfs, opts.user);
    user = { uid: resolved.uid, gid: resolved.gid, umask: base.user.umask ?? 0o022 };
    if (resolved.additionalGids) user.additionalGids = resolved.additionalGids;
    env = mergeEnv(env.filter((e) => envName(e) !== 'HOME'), opts.env ?? []);
    userEnv(env, resolved);
    caps = capabilities(resolved.uid);
  }
  if (opts.tty) addDefault(env, 'TERM', 'xterm');
  const out: ProcessSpec = {
    terminal: opts.tty ?? false,
    user,
    args: [...opts.args],
    env,
    cwd: opts.cwd === undefined ? base.cwd : absoluteDir(opts.cwd, 'the working directory'),
  };
  if (caps) out.capabilities = caps;
  if (base.rlimits) out.rlimits = base.rlimits;
  if (base.noNewPrivileges !== undefined) out.noNewPrivileges = base.noNewPrivileges;
  return out;
}
