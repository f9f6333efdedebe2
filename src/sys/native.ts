/**
 * @module sys/native
 * The one native boundary (design §10): cairn's own N-API addon (`native/sys.c`, built by
 * node-gyp into `build/Release/cairn_sys.node` when npm installs the package) for the few Linux
 * calls Node's `fs` lacks. Everything that needs a syscall goes through `src/sys`, so the rest of
 * cairn stays portable and testable.
 *
 * The addon is loaded on first use: commands that never lock, mknod or touch xattrs never load
 * it (and loading costs about a millisecond, where koffi cost ~20 ms). Its calls return -errno
 * on failure; `check` turns that into a Node-style error (`code` = `ENOENT`, `EPERM`...,
 * `syscall`, `path`), so callers test them with `errnoCode` exactly as they test `fs` errors.
 */
import { constants } from 'node:os';
import path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { CairnError } from '../errors.js';

/** Which step of `socketInNetns` failed; `setns-home` means the thread could not return. */
export interface NetnsFailure {
  readonly syscall: 'setns' | 'socket' | 'setns-home';
  readonly errno: number;
}

/** A child watch in the addon (opaque; see `watch`). */
export type WatchHandle = { readonly __brand: 'cairn-child-watch' };

/**
 * The addon's functions (see native/sys.c). Each returns its result, or -errno when the
 * syscall failed; EINTR is retried inside.
 */
export interface NativeSys {
  flock(fd: number, op: number): number;
  /** `mode` carries the file type bits (S_IFCHR...) and the permissions. */
  mknod(path: string, mode: number, major: number, minor: number): number;
  lsetxattr(path: string, name: string, value: Uint8Array): number;
  fsetxattr(fd: number, name: string, value: Uint8Array): number;
  lgetxattr(path: string, name: string): Buffer | number;
  llistxattr(path: string): string[] | number;
  lremovexattr(path: string, name: string): number;
  /** A socket made inside the network namespace `nsFd`, the thread back in `homeFd`'s after. */
  socketInNetns(nsFd: number, homeFd: number, domain: number, type: number): number | NetnsFailure;
  /** A new pseudo-terminal's master fd (granted and unlocked) and its slave's path. */
  openpt(flags: number): { master: number; path: string } | number;
  /**
   * mount(2), on the thread pool. With `cwd`, in a thread of its own whose working directory is
   * `cwd` (overlayfs resolves relative lowerdirs against it); the process's does not move.
   */
  mount(source: string, target: string, fstype: string, flags: number, data: string, cwd: string | null): Promise<number>;
  /** umount2(2), on the thread pool (an overlay's unmount syncs its upper filesystem). */
  umount2(target: string, flags: number): Promise<number>;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number] | number;
  /**
   * posix_spawnp of `file` (on PATH) with argv `args`; `env` null inherits ours; `fds` go onto
   * 0, 1, 2 (-1: /dev/null); `setsid` starts a new session. The pid, or -errno (exec's too).
   */
  spawn(file: string, args: readonly string[], env: readonly string[] | null, fds: readonly [number, number, number], setsid: boolean): number;
  /**
   * Watches child `pid` and its output pipes `fds` (read ends, -1 for none; taken over even on
   * failure) from a thread; `onEvent(kind, a, b)` runs on the main thread (kinds in sys/spawn).
   */
  watch(pid: number, fds: readonly [number, number], onEvent: (kind: number, a: number, b: Buffer | number | string) => void): WatchHandle | number;
  /** Pauses (0) or resumes (1) output `stream`; closes (2: the child is still reaped), unrefs (3) or refs (4) a watch. */
  watchControl(handle: WatchHandle, op: number, stream: number): number;
  /** _exit(2): ends the process at once (see sys/exit). */
  exitNow(code: number): never;
}

/** Relative to this module, which sits at the same depth in `src/` and `dist/`. */
const ADDON = '../../build/Release/cairn_sys.node';

let loaded: NativeSys | undefined;

/** The addon (loaded once, on first use). Linux only. */
export function native(): NativeSys {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw new CairnError('unsupported', `native calls are implemented for Linux only (this is ${process.platform})`);
  }
  // import.meta.dirname, not a URL: URL's first use costs ~0.5 ms, as much as the dlopen.
  const where = path.join(import.meta.dirname, ADDON);
  // process.dlopen rather than createRequire: it skips the CommonJS loader, which measured
  // ~1 ms of the ~2.5 ms a require of the addon took; dlopen alone is ~0.4 ms.
  const addon = { exports: {} };
  try {
    process.dlopen(addon, where);
    loaded = addon.exports as NativeSys;
  } catch (err) {
    throw new CairnError(
      'unsupported',
      // dlopen's message names the file and why (missing, wrong architecture...).
      `cairn's native addon cannot be loaded (${(err as Error).message}); build it with \`npm rebuild cairn\`, or \`npm run build:native\` in a checkout`,
      { path: where },
      { cause: err },
    );
  }
  return loaded;
}

let errnoNames: Map<number, string> | undefined;

/** errno numbers to names, built on the first error (node:os loads only then). */
function errnoName(errno: number): string | undefined {
  if (errnoNames === undefined) {
    errnoNames = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));
    // EOPNOTSUPP and ENOTSUP share a number on Linux; name it the way Node's fs errors do.
    errnoNames.set(constants.errno.ENOTSUP, 'ENOTSUP');
  }
  return errnoNames.get(errno);
}

/** A Node-style system error (`err.code === 'ENOENT'`...) for a failed native call. */
export function sysError(syscall: string, errno: number, path?: string): NodeJS.ErrnoException {
  const code = errnoName(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} failed${path === undefined ? '' : ` on ${path}`}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** What the C library says about `errno` ("invalid argument"), for messages. */
export function errnoText(errno: number): string {
  return getSystemErrorMap().get(-errno)?.[1] ?? `errno ${errno}`;
}

/** `result` when the call succeeded; throws its error when it is -errno. */
export function check(result: number, syscall: string, path?: string): number {
  if (result < 0) throw sysError(syscall, -result, path);
  return result;
}
