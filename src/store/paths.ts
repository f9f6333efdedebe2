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
  const cairn = path.join(abs, 'cairn');
  return {
    root: abs,
    ociLayout: path.join(abs, 'oci-layout'),
    index: path.join(abs, 'index.json'),
    blobs: path.join(abs, 'blobs'),
    cairn,
    meta: path.join(cairn, 'meta'),
    layers: path.join(cairn, 'layers'),
    cache: path.join(cairn, 'cache'),
    indexes: path.join(cairn, 'indexes'),
    containers: path.join(cairn, 'containers'),
    containerInit: path.join(cairn, 'container-init'),
    tmp: path.join(cairn, 'tmp'),
    lock: path.join(cairn, 'lock'),
    gcLock: path.join(cairn, 'gc.lock'),
  };
}

/** `$CAIRN_STORE`, else `$XDG_DATA_HOME/cairn`, else `~/.local/share/cairn`. */
export function defaultStorePath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.CAIRN_STORE) return path.resolve(env.CAIRN_STORE);
  if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, 'cairn');
  return path.join(env.HOME ?? homedir(), '.local', 'share', 'cairn');
}
