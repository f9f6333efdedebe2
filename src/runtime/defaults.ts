/**
 * @module runtime/defaults
 * The implementation-defined parts of a generated runtime config: capabilities, mounts, masked
 * and read-only paths, and rlimits. Each list is what podman 4.3 (runc, cgroupfs) wrote into its
 * own `config.json` on this machine for `podman run busybox true` — its capabilities are also
 * docker's default set — so a container behaves the same under cairn as under podman.
 *
 * rlimits are the one place where copying is not enough: root here has no CAP_SYS_RESOURCE, so
 * asking for a limit above the current hard limit makes runc fail. We read the hard limits of the
 * current process from `/proc/self/limits` and never ask for more (README: machine facts).
 */
import { readFileSync } from 'node:fs';
import { CairnError } from '../errors.js';
import type { SpecMount, SpecRlimit } from './types.js';

/** docker's and podman's default capability set (moby `oci/caps/defaults.go`). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_MKNOD',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_RAW',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
];

/** Paths hidden from the container: a file under /dev/null, a directory under an empty tmpfs. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/fs/selinux',
  '/sys/dev/block',
];

/** Paths bind-mounted read-only over themselves. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** The kernel filesystems every container gets (podman's list and options). */
export function defaultMounts(): SpecMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** A hard limit: a number, or `unlimited`. */
export type HardLimit = number | 'unlimited';

/** Hard limits by rlimit name (`RLIMIT_NOFILE`...), as the current process has them. */
export type HardLimits = ReadonlyMap<string, HardLimit>;

const LIMIT_NAMES: Readonly<Record<string, string>> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses the text of `/proc/<pid>/limits`. */
export function parseLimits(text: string): Map<string, HardLimit> {
  const limits = new Map<string, HardLimit>();
  for (const line of text.split('\n').slice(1)) {
    // "Max open files            20000                20000                files"
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const name = m ? LIMIT_NAMES[m[1] as string] : undefined;
    if (!m || !name) continue;
    const hard = m[3] as string;
    limits.set(name, hard === 'unlimited' ? 'unlimited' : Number(hard));
  }
  return limits;
}

let hardLimitsOnce: Promise<HardLimits> | undefined;

/** The current process's hard limits (read once per process; a small procfs file, read synchronously). */
export function readHardLimits(): Promise<HardLimits> {
  hardLimitsOnce ??= new Promise((resolve) => resolve(parseLimits(readFileSync('/proc/self/limits', 'utf8'))));
  return hardLimitsOnce;
}

/** docker's and podman's target for NOFILE and NPROC, lowered to the hard limit when that is less. */
const PREFERRED_LIMIT = 1048576;

function capped(hard: HardLimit | undefined): number {
  return hard === undefined || hard === 'unlimited' ? PREFERRED_LIMIT : Math.min(hard, PREFERRED_LIMIT);
}

/**
 * The rlimits a container gets: NOFILE and NPROC (what podman sets), each `min(1048576, hard
 * limit)` for soft and hard, plus the caller's `extra` limits, each checked against the hard
 * limit (root cannot raise one here; a runtime would fail later with a worse message).
 *
 * @throws CairnError 'invalid-argument' for an extra limit above the hard limit or soft > hard.
 */
export function containerRlimits(hard: HardLimits, extra: readonly SpecRlimit[] = []): SpecRlimit[] {
  const out = new Map<string, SpecRlimit>();
  for (const type of ['RLIMIT_NOFILE', 'RLIMIT_NPROC']) {
    const value = capped(hard.get(type));
    out.set(type, { type, soft: value, hard: value });
  }
  for (const limit of extra) {
    const max = hard.get(limit.type);
    if (max === undefined) throw new CairnError('invalid-argument', `unknown rlimit ${limit.type}`, { type: limit.type });
    if (limit.soft > limit.hard) {
      throw new CairnError('invalid-argument', `${limit.type}: soft limit ${limit.soft} is above the hard limit ${limit.hard}`, { ...limit });
    }
    if (max !== 'unlimited' && limit.hard > max) {
      throw new CairnError(
        'invalid-argument',
        `${limit.type}: ${limit.hard} is above this process's hard limit ${max}, which cannot be raised here`,
        { ...limit, max },
      );
    }
    out.set(limit.type, { ...limit });
  }
  return [...out.values()];
}
