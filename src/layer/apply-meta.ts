/**
 * @module layer/apply-meta
 * Metadata of applied entries: which xattrs are written and what a refusal means, and a small
 * pool that finishes files (content, owner, mode, xattrs, times) through their descriptors
 * while the applier goes on reading the tar.
 *
 * Xattr rules (after containerd's `createTarFile` and umoci's `restoreMetadata`):
 * - `security.selinux` and `system.nfs4_acl` are host-specific and never written (umoci's
 *   forbidden list); a layer carrying them gets a warning.
 * - ENOTSUP (the filesystem has no xattrs of that kind) is a warning, never an error.
 * - EPERM/EACCES is a warning for `trusted.*`/`security.*` when not root (they need
 *   CAP_SYS_ADMIN/CAP_SETFCAP), and for `user.*` on anything but files and directories (the
 *   kernel allows no others); otherwise it is an error: as root we set what the layer says.
 * - In overlay mode a layer's `trusted.overlay.*` is written escaped (see `layer/whiteout`).
 *
 * Order per entry: owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
 * `security.capability`), then times.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import { fsetXattr, listXattrs, removeXattr, setXattr } from '../sys/xattr.js';
import { escapeOverlayXattr, type OverlayXattrPrefix } from './whiteout.js';

/** Xattrs cairn never writes to disk: they describe the host, not the image. */
export const FORBIDDEN_XATTRS: ReadonlySet<string> = new Set(['security.selinux', 'system.nfs4_acl']);

export interface ApplyWarning {
  /** The layer (ApplyOptions.what). */
  what: string;
  /** The entry path as cleaned from the tar. */
  path: string;
  message: string;
}

export interface XattrPolicy {
  what: string;
  rootless: boolean;
  /** Overlay mode: escape this namespace. */
  overlay: OverlayXattrPrefix | undefined;
  warn(path: string, message: string): void;
}

/** The (name, value) pairs of `xattrs` to write to disk, after the forbidden list and escaping. */
export function diskXattrs(
  entryPath: string,
  xattrs: Readonly<Record<string, Uint8Array>>,
  policy: XattrPolicy,
): [string, Uint8Array][] {
  const out: [string, Uint8Array][] = [];
  for (const [name, value] of Object.entries(xattrs)) {
    if (FORBIDDEN_XATTRS.has(name)) {
      policy.warn(entryPath, `xattr ${name} is host-specific and was not applied`);
      continue;
    }
    out.push([policy.overlay ? escapeOverlayXattr(name, policy.overlay) : name, value]);
  }
  return out;
}

/** Whether a failed setxattr is tolerated (with a warning) rather than failing the layer. */
function tolerated(err: unknown, name: string, policy: XattrPolicy, regularOrDir: boolean): string | undefined {
  const code = errnoCode(err);
  if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') return 'the filesystem does not support it';
  if (code !== 'EPERM' && code !== 'EACCES') return undefined;
  if (policy.rootless && (name.startsWith('trusted.') || name.startsWith('security.'))) return 'not permitted without root';
  if (name.startsWith('user.') && !regularOrDir) return 'user.* xattrs are only allowed on files and directories';
  return undefined;
}

/**
 * Writes `pairs` (from `diskXattrs`) to `path` itself, or through `fd` when given.
 * Throws what the policy does not tolerate, with the layer and entry in the message.
 */
export function writeXattrs(
  target: { path: string; fd?: number; regularOrDir: boolean },
  entryPath: string,
  pairs: readonly [string, Uint8Array][],
  policy: XattrPolicy,
): void {
  for (const [name, value] of pairs) {
    try {
      if (target.fd !== undefined) fsetXattr(target.fd, name, value, target.path);
      else setXattr(target.path, name, value);
    } catch (err) {
      const why = tolerated(err, name, policy, target.regularOrDir);
      if (why === undefined) throw withContext(err, policy.what, entryPath);
      policy.warn(entryPath, `xattr ${name} was not applied: ${why}`);
    }
  }
}

/**
 * A merged directory ends with the entry's xattrs only (as after umoci): removes every other
 * xattr of `abs`, except host-specific ones and, in overlay mode, overlayfs' own.
 */
export function clearOtherXattrs(abs: string, entryPath: string, keep: readonly [string, Uint8Array][], policy: XattrPolicy): void {
  let names: string[];
  try {
    names = listXattrs(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOTSUP') return;
    throw err;
  }
  const kept = new Set(keep.map(([n]) => n));
  const overlay = policy.overlay;
  for (const name of names) {
    if (kept.has(name) || FORBIDDEN_XATTRS.has(name)) continue;
    if (overlay && name.startsWith(overlay) && !name.startsWith(`${overlay}overlay.`)) continue;
    try {
      removeXattr(abs, name);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP') throw err;
      policy.warn(entryPath, `xattr ${name} of the lower directory could not be removed (${code})`);
    }
  }
}

/** Adds the layer and the entry to a system error's message, keeping its `code`. */
export function withContext(err: unknown, what: string, entryPath: string): unknown {
  if (err instanceof Error && errnoCode(err) !== undefined && !err.message.startsWith(what)) {
    err.message = `${what}: entry "${entryPath}": ${err.message}`;
  }
  return err;
}

/**
 * Seconds since the epoch, as `utimes` takes them. A millisecond time such as …458 is not exact
 * in binary seconds (…457.99999…), and libuv truncates it to …457.999 ms on disk, which every
 * reader then truncates to …457: half a microsecond added keeps the stored time at or just
 * above the intended millisecond (0.5 µs; whole seconds are exact and left alone).
 */
export function seconds(date: Date): number {
  const ms = date.getTime();
  // Whole seconds are exact in binary; only a millisecond fraction needs the nudge (0.5 µs).
  return ms % 1000 === 0 ? ms / 1000 : (ms + 0.0005) / 1000;
}

/** How new files are opened: created, never through an existing name or a symlink. */
export const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * What making a new file takes: its content (when buffered), owner, mode, xattrs and mtime.
 * Everything after the open goes through the descriptor, so nothing depends on what later
 * entries do to its path.
 */
export interface FileFinish {
  /** Already open (streamed content), or undefined: the task creates the file. */
  handle: FileHandle | undefined;
  path: string;
  entryPath: string;
  data: Buffer | undefined;
  /** Undefined when the file already has it (created so). */
  owner: { uid: number; gid: number } | undefined;
  /** The final mode; `chmod` tells whether the creation mode needs fixing. */
  mode: number;
  chmod: boolean;
  xattrs: [string, Uint8Array][];
  mtime: Date;
}

export async function finishFile(f: FileFinish, policy: XattrPolicy): Promise<void> {
  let handle: FileHandle;
  try {
    handle = f.handle ?? (await open(f.path, CREATE_FLAGS, f.mode & 0o777));
  } catch (err) {
    throw withContext(err, policy.what, f.entryPath);
  }
  try {
    if (f.data !== undefined) {
      let done = 0;
      while (done < f.data.length) done += (await handle.write(f.data, done, f.data.length - done)).bytesWritten;
    }
    if (f.owner) await handle.chown(f.owner.uid, f.owner.gid);
    if (f.chmod) await handle.chmod(f.mode);
    if (f.xattrs.length > 0) writeXattrs({ path: f.path, fd: handle.fd, regularOrDir: true }, f.entryPath, f.xattrs, policy);
    await handle.utimes(seconds(f.mtime), seconds(f.mtime));
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw withContext(err, policy.what, f.entryPath);
  }
  await handle.close();
}

/**
 * Runs up to `limit` tasks at once, each keyed by the path it creates. `run` waits for a free
 * slot; `drain` waits for every task (callers drain before anything that could depend on a
 * pending path: removals, whiteouts, hardlinks, another entry for the same path). The first
 * failure is thrown by the next `run` or `drain`, and `drain` always lets every task settle
 * first, so no file handle outlives a failed layer.
 */
export class TaskPool {
  readonly #limit: number;
  readonly #running = new Map<Promise<void>, string>();
  readonly #keys = new Set<string>();
  #failure: { error: unknown } | undefined;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Whether a task for `key` may still be running. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  async run(key: string, task: () => Promise<void>): Promise<void> {
    while (this.#running.size >= this.#limit) await Promise.race(this.#running.keys());
    this.#throwFailure();
    const p: Promise<void> = task()
      .catch((error: unknown) => {
        this.#failure ??= { error };
      })
      .finally(() => {
        this.#running.delete(p);
        this.#keys.delete(key);
      });
    this.#running.set(p, key);
    this.#keys.add(key);
  }

  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.keys());
    this.#throwFailure();
  }

  #throwFailure(): void {
    if (this.#failure) throw this.#failure.error;
  }
}
