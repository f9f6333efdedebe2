/**
 * @module store/paths
 * Where things live in a store (design §1). The store root is an OCI image layout; everything
 * cairn-specific is under `cairn/` beside it, so other tools read the layout as it is.
 */
import { homedir } from 'node:os';
import path from 'node:path';

export interface StorePaths {
  readonly root: string;
  readonly ociLayout: string;
  readonly index: string;
  readonly blobs: string;
  readonly cairn: string;
  readonly meta: string;
  /** Unpacked layers keyed by chainID (overlay lowerdirs). Derived; gc removes unreferenced ones. */
  readonly layers: string;
  /** Derived caches (seekable copies of compressed layers, keyed by diffID). */
  readonly cache: string;
  /** Layer indexes, one file per diffID (`store/layer-indexes.ts`). Derived. */
  readonly indexes: string;
  readonly containers: string;
  /** The init layer every container's overlay shares: empty `dev`, `proc`, `sys` (container/rootfs). */
  readonly containerInit: string;
  readonly tmp: string;
  /** Exclusive while index.json or meta change. */
  readonly lock: string;
  /** Shared by operations that write blobs not yet reachable from index.json; exclusive for gc. */
  readonly gcLock: string;
}

export function storePaths(root: string): StorePaths {
  const abs = path.resolve(root);
  // Concatenated, not path.join: `abs` is absolute and normalised and the names are plain, so
  // there is nothing to normalise, and 13 joins were ~0.4 ms of every command's start (the first
  // calls of path.join run cold in the interpreter).
  const at = (name: string): string => `${abs === '/' ? '' : abs}/${name}`;
  const cairn = at('cairn');
  return {
    root: abs,
    ociLayout: at('oci-layout'),
    index: at('index.json'),
    blobs: at('blobs'),
    cairn,
    meta: `${cairn}/meta`,
    layers: `${cairn}/layers`,
    cache: `${cairn}/cache`,
    indexes: `${cairn}/indexes`,
    containers: `${cairn}/containers`,
    containerInit: `${cairn}/container-init`,
    tmp: `${cairn}/tmp`,
    lock: `${cairn}/lock`,
    gcLock: `${cairn}/gc.lock`,
  };
}

/** `$CAIRN_STORE`, else `$XDG_DATA_HOME/cairn`, else `~/.local/share/cairn`. */
export function defaultStorePath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.CAIRN_STORE) return path.resolve(env.CAIRN_STORE);
  if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, 'cairn');
  return path.join(env.HOME ?? homedir(), '.local', 'share', 'cairn');
}
