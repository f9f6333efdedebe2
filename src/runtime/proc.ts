/**
 * @module runtime/proc
 * Small facts about host processes, read from `/proc`: a process's identity (pid + start time,
 * because pids are reused), its children, and signal names and exit statuses.
 *
 * A pid alone cannot tell "our supervisor is still running" from "the pid was reused by some
 * other process after ours died"; the kernel's start time (field 22 of `/proc/<pid>/stat`, clock
 * ticks since boot) can. Every pid cairn records is stored with its start time.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { CairnError, errnoCode } from '../errors.js';

/** A process as recorded in state: pid plus the start time that makes it unique. */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
}

/**
 * The start time of `pid` (clock ticks since boot), or null when it does not exist or is a zombie.
 * Read synchronously: one small procfs file, read on every state check and container start.
 */
export async function processStartTime(pid: number): Promise<number | null> {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') return null;
    throw err;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

/** This process's identity. */
export async function selfIdentity(): Promise<ProcessIdentity> {
  const startTime = await processStartTime(process.pid);
  if (startTime === null) throw new CairnError('process-failed', 'cannot read /proc/self/stat', {});
  return { pid: process.pid, startTime };
}

/** The identity of `pid` now, or null when it is gone. */
export async function identityOf(pid: number): Promise<ProcessIdentity | null> {
  const startTime = await processStartTime(pid);
  return startTime === null ? null : { pid, startTime };
}

/** Whether the process recorded as `id` is still the one running under that pid. */
export async function isAlive(id: ProcessIdentity | null | undefined): Promise<boolean> {
  if (!id) return false;
  return (await processStartTime(id.pid)) === id.startTime;
}

/** The direct children of `pid` (needs CONFIG_PROC_CHILDREN, which every distribution kernel has). */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text
      .split(' ')
      .filter((s) => s !== '')
      .map(Number);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
}

/** The exit status a shell would report: the code, or 128+N for signal N. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/**
 * Normalises a signal given as `SIGTERM`, `TERM`, `term` or `15` to its name.
 *
 * @throws CairnError 'invalid-argument' for an unknown signal.
 */
export function signalName(signal: string | number): NodeJS.Signals {
  const signals = constants.signals as Readonly<Record<string, number>>;
  if (typeof signal === 'number' || /^\d+$/.test(signal)) {
    const n = Number(signal);
    const name = Object.keys(signals).find((k) => signals[k] === n);
    if (name) return name as NodeJS.Signals;
  } else {
    const upper = signal.toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (signals[name] !== undefined) return name as NodeJS.Signals;
  }
  throw new CairnError('invalid-argument', `unknown signal "${signal}"`, { signal });
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
