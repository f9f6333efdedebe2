/**
 * @module container/files
 * Changing a container's files from code, without running anything in it: the API behind
 * "make a web image with the library" and `cairn cp`. Every path is resolved inside the
 * container's root filesystem (symlinks re-rooted, `..` clamped: src/layer/scoped-path), so no
 * call can reach the host. In overlay mode the writes go through the mounted overlay, which
 * does the copy-up and whiteouts; `diff` and `commit` then see them as any other change. The
 * copies (`cp`) mount it for the copy alone; the other calls leave it mounted until the container
 * starts or is removed, so that a series of them pays one mount (container/rootfs `withRootfs`).
 */
import { chmod, chown, cp, lchown, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CairnError, errnoCode } from '../errors.js';
import { rootPath } from '../layer/scoped-path.js';
import type { Store } from '../store/store.js';
import type { ContainerRecord } from './record.js';
import { pauseWhile } from './pause.js';
import { mountRootfs, withRootfs } from './rootfs.js';

/** A container path (`/etc/motd`) as a clean relative path, or an error naming it. */
function relative(containerPath: string): string {
  if (!containerPath.startsWith('/')) {
    throw new CairnError('invalid-argument', `container path "${containerPath}" must be absolute`, { path: containerPath });
  }
  return path.posix.normalize(containerPath).replace(/^\/+/, '');
}

interface Located {
  readonly root: string;
  readonly parent: string;
  readonly name: string;
  readonly full: string;
}

/** The host path of a container path's parent, resolved in the root, plus the last name. */
async function locate(store: Store, record: ContainerRecord, containerPath: string): Promise<Located> {
  return locateIn(await mountRootfs(store, record), containerPath);
}

/** `locate` in a root filesystem that is mounted already. */
async function locateIn(root: string, containerPath: string): Promise<Located> {
  const rel = relative(containerPath);
  if (rel === '' || rel === '.') return { root, parent: root, name: '', full: root };
  const parent = await rootPath(root, path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
  const name = path.posix.basename(rel);
  return { root, parent, name, full: path.join(parent, name) };
}

export interface WriteFileOptions {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** Writes a file (following a symlink at the path, inside the root, as a shell redirect would). */
export async function writeContainerFile(store: Store, record: ContainerRecord, containerPath: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> {
  const { root } = await locate(store, record, containerPath);
  const target = await rootPath(root, relative(containerPath));
  await writeFile(target, data, options.mode !== undefined ? { mode: options.mode } : {});
  if (options.mode !== undefined) await chmod(target, options.mode);
  if (options.uid !== undefined || options.gid !== undefined) await chown(target, options.uid ?? 0, options.gid ?? 0);
}

export async function readContainerFile(store: Store, record: ContainerRecord, containerPath: string): Promise<Buffer> {
  const { root } = await locate(store, record, containerPath);
  return readFile(await rootPath(root, relative(containerPath)));
}

export async function makeContainerDir(store: Store, record: ContainerRecord, containerPath: string, options: { mode?: number; recursive?: boolean } = {}): Promise<void> {
  const { root } = await locate(store, record, containerPath);
  const rel = relative(containerPath);
  if (options.recursive) {
    // Create each missing component in turn, each resolved inside the root.
    let current = '';
    for (const part of rel.split('/')) {
      current = current === '' ? part : `${current}/${part}`;
      const host = await rootPath(root, current);
      await mkdir(host, { mode: options.mode ?? 0o755 }).catch((err: unknown) => {
        if (errnoCode(err) !== 'EEXIST') throw err;
      });
    }
    return;
  }
  const { full } = await locate(store, record, containerPath);
  await mkdir(full, { mode: options.mode ?? 0o755 });
}

/** Removes a path (not following a symlink there). */
export async function removeContainerPath(store: Store, record: ContainerRecord, containerPath: string, options: { recursive?: boolean } = {}): Promise<void> {
  const { full, name } = await locate(store, record, containerPath);
  if (name === '') throw new CairnError('invalid-argument', 'cannot remove the root directory of a container', {});
  const info = await lstat(full);
  if (info.isDirectory() && !options.recursive) {
    throw new CairnError('invalid-argument', `${containerPath} is a directory: pass recursive`, { path: containerPath });
  }
  await rm(full, { recursive: options.recursive ?? false });
}

export async function symlinkInContainer(store: Store, record: ContainerRecord, target: string, containerPath: string): Promise<void> {
  const { full } = await locate(store, record, containerPath);
  await symlink(target, full);
}

export async function chmodInContainer(store: Store, record: ContainerRecord, containerPath: string, mode: number): Promise<void> {
  const { root } = await locate(store, record, containerPath);
  await chmod(await rootPath(root, relative(containerPath)), mode);
}

/** Changes the owner of the path itself (a symlink is not followed, as `chown -h`). */
export async function chownInContainer(store: Store, record: ContainerRecord, containerPath: string, uid: number, gid: number): Promise<void> {
  const { full } = await locate(store, record, containerPath);
  await lchown(full, uid, gid);
}

async function isDirectory(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * `cp HOSTPATH CONTAINER:PATH`: into an existing directory it lands under its own name, else at
 * the path itself (docker's rules); symlinks are copied as links, owners and times kept.
 */
export async function copyIntoContainer(store: Store, record: ContainerRecord, hostPath: string, containerPath: string): Promise<void> {
  // Paused while copying, as docker does since CVE-2018-15664: a running container cannot swap
  // a resolved directory for a symlink to the host between the resolution and the write.
  await pauseWhile(store, record, () =>
    withRootfs(store, record, async (root) => {
      const dest = await rootPath(root, relative(containerPath));
      const target = (await isDirectory(dest)) ? path.join(dest, path.basename(hostPath)) : dest;
      await cp(hostPath, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    }),
  );
}

/**
 * `cp CONTAINER:PATH HOSTPATH`, the same rules the other way. A symlink named by PATH is copied
 * as the link, not what it points to (docker's default, without `-L`).
 */
export async function copyFromContainer(store: Store, record: ContainerRecord, containerPath: string, hostPath: string): Promise<void> {
  await pauseWhile(store, record, () =>
    withRootfs(store, record, async (root) => {
      const { name, full: source } = await locateIn(root, containerPath);
      const target = (await isDirectory(hostPath)) ? path.join(hostPath, name === '' ? path.basename(root) : name) : hostPath;
      await cp(source, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    }),
  );
}
