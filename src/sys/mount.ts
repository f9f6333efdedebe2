/**
 * @module sys/mount
 * Kernel overlay mounts for unpacked layers and container root filesystems (design §6), through
 * util-linux `mount`/`umount` (a few ms a call; mounts happen once per container start, never
 * per file). Lower directories are passed relative to `cwd` when given: overlayfs resolves them
 * against the mounting process's working directory, which keeps the option string short — it
 * must fit in one page (4096 bytes), and 64-hex chainIDs fit about 60 layers that way.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError } from '../errors.js';

export interface OverlayMountOptions {
  /** Lower directories, top first (relative to `cwd` when it is given). */
  readonly lower: readonly string[];
  /** Absent for a read-only mount of the lowers. */
  readonly upper?: string;
  readonly work?: string;
  readonly target: string;
  /** The directory relative lower paths are resolved against. */
  readonly cwd?: string;
}

/** The most the kernel takes for mount options (one page). */
export const MAX_MOUNT_DATA = 4095;

function run(command: string, args: readonly string[], cwd?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: cwd ?? '/', stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stderr: stderr.trim() }));
  });
}

/** The `-o` string for an overlay mount; throws when it would not fit in a page. */
export function overlayOptions(options: OverlayMountOptions): string {
  if (options.lower.length === 0) throw new CairnError('invalid-argument', `overlay mount at ${options.target}: needs at least one lower directory`);
  for (const dir of [...options.lower, options.upper ?? '', options.work ?? '']) {
    if (/[,:\\]/.test(dir)) throw new CairnError('unsupported', `overlay mount: the path "${dir}" contains a character overlayfs cannot take (, : \\)`, { path: dir });
  }
  const parts = [`lowerdir=${options.lower.join(':')}`];
  if (options.upper !== undefined) parts.push(`upperdir=${options.upper}`, `workdir=${options.work ?? ''}`);
  const data = parts.join(',');
  if (data.length > MAX_MOUNT_DATA) {
    throw new CairnError('unsupported', `overlay mount at ${options.target}: ${options.lower.length} layers do not fit in one mount (options are ${data.length} bytes, the kernel takes ${MAX_MOUNT_DATA})`, {
      layers: options.lower.length,
    });
  }
  return data;
}

export async function mountOverlay(options: OverlayMountOptions): Promise<void> {
  const data = overlayOptions(options);
  const result = await run('mount', ['-t', 'overlay', 'overlay', '-o', data, options.target], options.cwd);
  if (result.code !== 0) {
    throw new CairnError('process-failed', `overlay mount at ${options.target} failed: ${result.stderr || `mount exited with ${result.code}`}`, {
      target: options.target,
    });
  }
}

/** Unmounts `target`; `lazy` detaches it even while busy (MNT_DETACH). Not mounted is success. */
export async function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  if (!(await isMountpoint(target))) return;
  const result = await run('umount', [...(options.lazy ? ['-l'] : []), target]);
  if (result.code !== 0 && (await isMountpoint(target))) {
    throw new CairnError('process-failed', `unmounting ${target} failed: ${result.stderr}`, { target });
  }
}

/** Mount points under (or at) `prefix`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const root = path.resolve(prefix);
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export async function isMountpoint(target: string): Promise<boolean> {
  const root = path.resolve(target);
  return (await mountsUnder(root)).includes(root);
}

/** True when this process may mount overlays: root, and the kernel knows overlayfs. */
export async function overlayAvailable(): Promise<boolean> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  try {
    return /\toverlay\n/.test(await readFile('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}
