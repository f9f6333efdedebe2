/**
 * @module sys/xattr
 * Extended attributes without following symlinks (`l*xattr`), plus `fsetxattr` on an open file.
 * Node's `fs` has none of them (design §10). Values are raw bytes; names are UTF-8.
 *
 * Errors are Node-style (`code` `ENODATA`, `ENOTSUP`, `EPERM`...): `getXattr` returns undefined
 * for a missing attribute instead of throwing, everything else throws.
 */
import { constants } from 'node:os';
import { check, native, sysError } from './native.js';


/** Sets `name` on `path` itself (a symlink is not followed). */
export function setXattr(path: string, name: string, value: Uint8Array): void {
  check(native().lsetxattr(path, name, value), 'lsetxattr', path);
}

/** Sets `name` on an open file descriptor (`path` only names it in errors). */
export function fsetXattr(fd: number, name: string, value: Uint8Array, path?: string): void {
  check(native().fsetxattr(fd, name, value), 'fsetxattr', path);
}

/** The value of `name` on `path` itself, or undefined when it has no such attribute. */
export function getXattr(path: string, name: string): Buffer | undefined {
  const value = native().lgetxattr(path, name);
  if (typeof value !== 'number') return value;
  if (value === -constants.errno.ENODATA) return undefined;
  throw sysError('lgetxattr', -value, path);
}

/** The attribute names on `path` itself, in the order the filesystem lists them. */
export function listXattrs(path: string): string[] {
  const names = native().llistxattr(path);
  if (typeof names !== 'number') return names;
  throw sysError('llistxattr', -names, path);
}

/** Every attribute of `path` itself with its value. */
export function readXattrs(path: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of listXattrs(path)) {
    const value = getXattr(path, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Removes `name` from `path` itself; a missing attribute is not an error. */
export function removeXattr(path: string, name: string): void {
  const r = native().lremovexattr(path, name);
  if (r !== -constants.errno.ENODATA) check(r, 'lremovexattr', path);
}
