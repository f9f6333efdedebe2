/**
 * Helpers for layer-index and union-view tests: images made of hand-written tar entries
 * (whiteouts, links, devices, any order) in a temp store, and synthetic layer indexes for
 * tests of the merge rules that need no bytes at all.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { appendLayer, scratchImage, writeImage } from '../../src/image/draft.js';
import { resolveImage, type ResolvedImage } from '../../src/image/resolve.js';
import type { Digest } from '../../src/digest/index.js';
import type { LayerIndex, LayerIndexEntry } from '../../src/layer/layer-index.js';
import { Store } from '../../src/store/store.js';
import { packTar, type Compression, type TarEntryInit } from '../../src/tar/index.js';

/** One step of a random layer (property tests): what it writes or whites out. */
export type LayerOp =
  | { kind: 'file'; path: string; content: number; mode: number; mtime: number }
  | { kind: 'dir'; path: string; mode: number; mtime: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'hardlink'; path: string; target: string }
  | { kind: 'whiteout'; path: string }
  | { kind: 'opaque'; path: string };

export interface Item {
  readonly entry: TarEntryInit;
  readonly body?: Uint8Array;
}

/** A file entry with string or byte content. */
export const file = (p: string, content: string | Uint8Array = '', init: Partial<TarEntryInit> = {}): Item => {
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  return { entry: { path: p, type: 'file', size: body.length, mtime: 1_700_000_000_000, ...init }, body };
};
export const dir = (p: string, init: Partial<TarEntryInit> = {}): Item => ({
  entry: { path: p, type: 'directory', mtime: 1_700_000_000_000, ...init },
});
export const symlink = (p: string, target: string): Item => ({
  entry: { path: p, type: 'symlink', linkname: target, mtime: 1_700_000_000_000 },
});
export const hardlink = (p: string, target: string, init: Partial<TarEntryInit> = {}): Item => ({
  entry: { path: p, type: 'hardlink', linkname: target, mtime: 1_700_000_000_000, ...init },
});

export interface TempStore {
  readonly dir: string;
  readonly store: Store;
  remove(): Promise<void>;
}

export async function tempStore(prefix = 'cairn-union-'): Promise<TempStore> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const store = await Store.open(path.join(dir, 'store'));
  return { dir, store, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface MakeOptions {
  readonly compression?: Compression;
  readonly level?: number;
  /** history `created_by` for each layer. */
  readonly createdBy?: readonly string[];
  /** Replace the config's diff_ids (a lying config). */
  readonly diffIds?: (real: readonly Digest[]) => Digest[];
}

/** Writes an image whose layers hold exactly `layers` (bottom first) and tags it `tag`. */
export async function makeImage(store: Store, tag: string, layers: readonly (readonly Item[])[], options: MakeOptions = {}): Promise<ResolvedImage> {
  await store.ingest(async () => {
    let draft = scratchImage(new Date('2024-01-01T00:00:00Z'));
    for (const [i, items] of layers.entries()) {
      const createdBy = options.createdBy?.[i];
      draft = await appendLayer(store, draft, packTar(items.map((it) => (it.body ? { entry: it.entry, body: it.body } : { entry: it.entry }))), {
        compression: options.compression ?? 'gzip',
        ...(options.level !== undefined ? { level: options.level } : {}),
        ...(createdBy !== undefined ? { history: { created_by: createdBy } } : {}),
      });
    }
    if (options.diffIds) draft = { ...draft, config: { ...draft.config, rootfs: { type: 'layers', diff_ids: options.diffIds(draft.config.rootfs.diff_ids) } } };
    const descriptor = await writeImage(store, draft, { created: new Date('2024-01-01T00:00:00Z') });
    await store.setTag(tag, descriptor);
  });
  return resolveImage(store, tag);
}

/** A synthetic index entry (no tar behind it): enough for merge-rule tests. */
export function indexEntry(p: string, init: Partial<LayerIndexEntry> = {}): LayerIndexEntry {
  const isDir = p.endsWith('/');
  const type = init.type ?? (isDir ? 'directory' : 'file');
  return {
    path: isDir ? p.slice(0, -1) : p,
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 0,
    offset: 0,
    ...(type === 'file' ? { sha256: `sha256:${'0'.repeat(64)}` as Digest } : {}),
    ...init,
  };
}

/** A synthetic layer index from paths (`dir/` is a directory) or entries. */
export function indexOf(entries: readonly (string | LayerIndexEntry)[], n = 0): LayerIndex {
  return {
    diffId: `sha256:${n.toString(16).padStart(64, '0')}` as Digest,
    size: 0,
    entries: entries.map((e) => (typeof e === 'string' ? indexEntry(e) : e)),
  };
}
