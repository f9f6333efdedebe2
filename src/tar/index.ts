/**
 * @module tar
 * Streaming tar and layer compression: read entries with their content offsets, write
 * deterministic archives, detect and apply gzip/zstd, and digest a layer (digest + diffID) in one
 * pass. Whiteouts and extraction safety are not here: they belong to `src/layer`.
 */
export type { TarEntry, TarEntryInit, TarEntryType } from './entry.js';
export { cleanPath, comparePaths, sortEntries } from './entry.js';
export type { ReadTarOptions, TarItem } from './read.js';
export { listTar, readTar, tarEntries } from './read.js';
export type { InMemoryTarInput, TarBody, TarInput, TarWriter, TarWriterOptions } from './write.js';
export { createTarWriter, packTar, packTarSmall, tarBytes } from './write.js';
export type { Compression, CompressOptions, Decompressed, DecompressOptions } from './compression.js';
export {
  compressBytes,
  compressStream,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_ZSTD_LEVEL,
  decompressStream,
  detectCompression,
} from './compression.js';
export type { ArchiveCompression } from './archive-compression.js';
export { decompressArchive } from './archive-compression.js';
export type { EncodedLayer, LayerDigests, ScanLayerOptions } from './layer-stream.js';
export { digestLayer, encodeLayer, readIfSmall, scanLayer } from './layer-stream.js';
