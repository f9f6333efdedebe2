/**
 * @module store/meta
 * The metadata database (`cairn/meta`, a level database). It holds what is expensive to derive
 * (layer records: diffID and uncompressed size of a layer blob) and the build cache. The layer
 * records can be rebuilt from blobs (`fsck --rebuild`). Containers and layer indexes are files
 * instead (see src/container/record.ts and src/store/layer-indexes.ts for why).
 *
 * LevelDB allows one process at a time, and opening it costs ~0.09 s here, so the store opens it
 * only for the span of one operation, under the store lock (see `Store.withMeta`), and commands
 * that do not need it never load the module.
 */
import type { Digest } from '../digest/index.js';

/** What decompressing a layer blob once tells us. Keyed by the compressed blob digest. */
export interface LayerRecord {
  readonly diffId: Digest;
  /** Uncompressed tar size in bytes. */
  readonly size: number;
  readonly compression: 'gzip' | 'zstd' | 'none';
}

export interface Sublevel<V> {
  get(key: string): Promise<V | undefined>;
  put(key: string, value: V): Promise<void>;
  del(key: string): Promise<void>;
  clear(): Promise<void>;
  entries(): AsyncIterable<[string, V]>;
}

/** The typed sections of the database. */
export interface Meta {
  readonly layers: Sublevel<LayerRecord>;
  /** Build cache: step key → result. Owned by the build module. */
  readonly buildCache: Sublevel<unknown>;
  /** Sections that `fsck --rebuild` may clear and re-derive. */
  readonly derived: readonly Sublevel<unknown>[];
}

interface LevelLike {
  open(): Promise<void>;
  close(): Promise<void>;
  sublevel<V>(name: string, options: { valueEncoding: 'json' }): RawSublevel<V>;
}

interface RawSublevel<V> {
  get(key: string): Promise<V | undefined>;
  put(key: string, value: V): Promise<void>;
  del(key: string): Promise<void>;
  clear(): Promise<void>;
  iterator(): AsyncIterable<[string, V]>;
}

function wrap<V>(raw: RawSublevel<V>): Sublevel<V> {
  return {
    get: (key) => raw.get(key),
    put: (key, value) => raw.put(key, value),
    del: (key) => raw.del(key),
    clear: () => raw.clear(),
    entries: () => raw.iterator(),
  };
}

/** Opens the database at `dir`, runs `fn`, and closes it whatever happens. */
export async function withMetaDb<T>(dir: string, fn: (meta: Meta) => Promise<T>): Promise<T> {
  const { Level } = await import('level');
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' }) as unknown as LevelLike;
  await db.open();
  try {
    const layers = wrap(db.sublevel<LayerRecord>('layers', { valueEncoding: 'json' }));
    const buildCache = wrap(db.sublevel<unknown>('build-cache', { valueEncoding: 'json' }));
    // Layer indexes were kept here before they became files: `fsck --rebuild` clears what an
    // older store still holds.
    const oldIndexes = wrap(db.sublevel<unknown>('layer-indexes', { valueEncoding: 'json' }));
    const derived = [layers, oldIndexes] as Sublevel<unknown>[];
    return await fn({ layers, buildCache, derived });
  } finally {
    await db.close();
  }
}
