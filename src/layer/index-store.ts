/**
 * @module layer/index-store
 * Layer indexes in the store: read them from their files (`store.layerIndexes`, keyed by
 * diffID), or build them in one pass over the blob (which also verifies the blob digest and the
 * diffID) and save them, with the blob's `LayerRecord` in meta.
 *
 * `layerTables` reads indexes alone, without the meta database: what an image diff needs.
 * `indexLayers` also gives each blob's record, for reading contents. Meta (LevelDB) allows one
 * process at a time and costs ~0.06 s to load and open, so it is opened once to read the
 * records an operation needs and, only if some had to be made, once more to save them. It is
 * never held open while a layer is decompressed: another process may need it. Two processes
 * that build the same index at once both save the same bytes; that is harmless.
 */
import { open } from 'node:fs/promises';
import type { Digest } from '../digest/index.js';
import { CairnError } from '../errors.js';
import { parseConfig, type Descriptor, type ImageManifest } from '../oci/index.js';
import type { LayerRecord } from '../store/meta.js';
import type { LayerScanner, RebuildResult } from '../store/rebuild.js';
import type { Store } from '../store/store.js';
import { IndexTable } from './index-table.js';
import { encodeLayerIndex, type LayerIndex } from './layer-index.js';
import type { LayerBlob } from './random-access.js';

// Building an index (tar reading, zstd, the seekable cache) and rebuilding meta are loaded only
// when a layer has no index yet: reading stored indexes (`cairn diff`, `ls`) needs none of it.
const building = () => Promise.all([import('./index-build.js'), import('./random-access.js'), import('../tar/index.js')]);

/** A layer of an image: its descriptor (the blob) and its diffID (from the config). */
export interface LayerRef {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
}

export interface IndexedLayer extends LayerRef {
  /** Every entry, decoded on first use (and once for every layer with this diffID). */
  readonly index: LayerIndex;
  /** The same index, for lookups that decode only the entries they need. */
  readonly table: IndexTable;
  readonly record: LayerRecord;
  /** What random access needs (`LayerContent`). */
  readonly blob: LayerBlob;
}

export interface IndexOptions {
  /**
   * Also write the seekable content cache (see `random-access.ts`) of compressed layers that
   * have to be indexed, in the same decompression pass. For callers about to read contents.
   */
  seekable?: boolean;
  /** Called before a layer is built (not for cached indexes). */
  onBuild?: (layer: LayerRef) => void;
  /** Called with uncompressed byte counts of each decompression (tests count them). */
  onDecompress?: (bytes: number) => void;
}

/**
 * The index of one layer: from meta, or built and saved (with its LayerRecord).
 *
 * @example
 * const index = await getLayerIndex(store, manifest.layers[0], config.rootfs.diff_ids[0]);
 */
export async function getLayerIndex(
  store: Store,
  descriptor: Descriptor,
  diffId: Digest,
  options: IndexOptions = {},
): Promise<LayerIndex> {
  const [layer] = await indexLayers(store, [{ descriptor, diffId }], options);
  return (layer as IndexedLayer).index;
}

/** The layers of an image, bottom first, each paired with its diffID from the config. */
export async function imageLayers(store: Store, image: { readonly manifest: ImageManifest }): Promise<LayerRef[]> {
  const { manifest } = image;
  const config = parseConfig(await store.blobs.readBytes(manifest.config.digest), `config ${manifest.config.digest}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new CairnError(
      'invalid-document',
      `config ${manifest.config.digest} lists ${diffIds.length} diffIDs for ${manifest.layers.length} layers`,
      { digest: manifest.config.digest },
    );
  }
  return manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] as Digest }));
}

/** Indexes every layer of an image (see `indexLayers`). */
export async function indexImage(
  store: Store,
  image: { readonly manifest: ImageManifest },
  options: IndexOptions = {},
): Promise<IndexedLayer[]> {
  return indexLayers(store, await imageLayers(store, image), options);
}

/** The stored index of every layer that has a readable one, by diffID (each read once). */
function storedIndexes(store: Store, layers: readonly LayerRef[]): Map<Digest, StoredIndex> {
  const found = new Map<Digest, StoredIndex>();
  for (const { diffId } of layers) {
    if (found.has(diffId)) continue;
    const bytes = store.layerIndexes.get(diffId);
    const table = bytes ? readSafely(bytes) : undefined;
    if (table && table.diffId === diffId) found.set(diffId, new StoredIndex(table));
  }
  return found;
}

/**
 * The index tables of `layers`, in order (one per layer; layers with the same diffID share
 * one). Stored indexes are read without opening meta; when one is missing, `indexLayers` builds
 * it (and the records).
 *
 * @example
 * const [base, top] = await layerTables(store, await imageLayers(store, image));
 */
export async function layerTables(store: Store, layers: readonly LayerRef[]): Promise<IndexTable[]> {
  const found = storedIndexes(store, layers);
  if (layers.every((l) => found.has(l.diffId))) return layers.map((l) => (found.get(l.diffId) as StoredIndex).table);
  return (await indexLayers(store, layers)).map((l) => l.table);
}

/**
 * Indexes of `layers`, in order, with their blobs' records: stored indexes read from their
 * files, one meta open to read the records, builds for the missing indexes (one pass each,
 * outside the lock), and one meta open to save the records made.
 */
export async function indexLayers(
  store: Store,
  layers: readonly LayerRef[],
  options: IndexOptions = {},
): Promise<IndexedLayer[]> {
  if (layers.length === 0) return [];
  const found = storedIndexes(store, layers);
  const records = new Map<Digest, LayerRecord>();
  await store.withMeta(async (meta) => {
    for (const { descriptor, diffId } of layers) {
      const record = await meta.layers.get(descriptor.digest);
      if (record && record.diffId === diffId) records.set(descriptor.digest, record);
    }
  });
  const newRecords = new Map<Digest, LayerRecord>();
  for (const layer of layers) {
    const { descriptor, diffId } = layer;
    if (found.has(diffId) && records.has(descriptor.digest)) continue;
    if (found.has(diffId)) {
      // Indexed through another blob of the same content (say, gzip vs zstd): the record is cheap.
      const stored = found.get(diffId) as StoredIndex;
      const record = { diffId, size: stored.table.size, compression: await compressionOf(store, descriptor.digest) };
      records.set(descriptor.digest, record);
      newRecords.set(descriptor.digest, record);
      continue;
    }
    options.onBuild?.(layer);
    const { index, record } = await build(store, layer, options);
    const bytes = encodeLayerIndex(index);
    found.set(diffId, new StoredIndex(IndexTable.read(bytes), index));
    records.set(descriptor.digest, record);
    await store.layerIndexes.put(diffId, bytes);
    newRecords.set(descriptor.digest, record);
  }
  if (newRecords.size > 0) {
    await store.withMeta(async (meta) => {
      for (const [digest, record] of newRecords) await meta.layers.put(digest, record);
    });
  }
  return layers.map(({ descriptor, diffId }) => {
    const stored = found.get(diffId) as StoredIndex;
    const record = records.get(descriptor.digest) as LayerRecord;
    const blob: LayerBlob = { digest: descriptor.digest, diffId, size: record.size, compression: record.compression };
    return {
      descriptor,
      diffId,
      record,
      blob,
      table: stored.table,
      get index() {
        return stored.index;
      },
    };
  });
}

/**
 * For `rebuildMeta`: one pass per layer blob yields its record and its encoded index.
 *
 * @example
 * await rebuildMeta(store, { scanner: indexingScanner });
 */
export const indexingScanner: LayerScanner = async (blob, what) => {
  const [{ buildLayerIndex }] = await building();
  const built = await buildLayerIndex(blob, { what });
  return {
    record: { diffId: built.diffId, size: built.size, compression: built.compression },
    digest: built.digest,
    index: encodeLayerIndex(built.index),
  };
};

/** `fsck --rebuild` with layer indexes: records and indexes re-derived from the blobs. */
export async function rebuildMetaWithIndexes(store: Store): Promise<RebuildResult> {
  const { rebuildMeta } = await import('../store/rebuild.js');
  return rebuildMeta(store, { scanner: indexingScanner });
}

/** An index read from meta (or just built): decoded in full only when someone asks. */
class StoredIndex {
  readonly table: IndexTable;
  #index: LayerIndex | undefined;

  constructor(table: IndexTable, index?: LayerIndex) {
    this.table = table;
    this.#index = index;
  }

  get index(): LayerIndex {
    this.#index ??= this.table.toIndex();
    return this.#index;
  }
}

function readSafely(bytes: Uint8Array): IndexTable | undefined {
  try {
    return IndexTable.read(bytes);
  } catch {
    return undefined; // an index from an older or damaged encoding: build it again
  }
}

async function compressionOf(store: Store, digest: Digest): Promise<LayerRecord['compression']> {
  const [, , { detectCompression }] = await building();
  const handle = await open(store.blobs.path(digest), 'r');
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

async function build(
  store: Store,
  { descriptor, diffId }: LayerRef,
  options: IndexOptions,
): Promise<{ index: LayerIndex; record: LayerRecord }> {
  const [{ buildLayerIndex }, { SEEKABLE_MIN_SIZE, SeekableWriter, hasSeekableCache }] = await building();
  const what = `layer ${descriptor.digest}`;
  const wantCache = options.seekable === true && !(await hasSeekableCache(store, diffId).catch(() => true));
  const writer = wantCache ? await SeekableWriter.create(store, diffId).catch(() => undefined) : undefined;
  try {
    const built = await buildLayerIndex(await store.blobs.open(descriptor.digest), {
      what,
      expectedDigest: descriptor.digest,
      expectedDiffId: diffId,
      tap: (chunk) => {
        options.onDecompress?.(chunk.length);
        return writer?.write(chunk);
      },
    });
    // The cache is an optimisation: failing to write it must not fail the index.
    if (writer && built.compression !== 'none' && built.size >= SEEKABLE_MIN_SIZE) await writer.commit().catch(() => undefined);
    else await writer?.abort();
    return { index: built.index, record: { diffId, size: built.size, compression: built.compression } };
  } catch (err) {
    await writer?.abort();
    throw err;
  }
}
