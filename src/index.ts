/**
 * @module cairn
 * The public API. Everything the CLI does is here, typed; the CLI only parses and prints.
 */
export { CairnError, isCairnError } from './errors.js';
export type { ErrorCode, ErrorData } from './errors.js';

export { parseDigest, isDigest, digestOf, digestHex, shortId, nodeSha256 } from './digest/index.js';
export { DigestStream } from './digest/stream.js';
export type { Digest, Hasher, HasherFactory } from './digest/index.js';

export { Store } from './store/store.js';
export type { StoreOptions } from './store/store.js';
export type { AtomicWriteOptions } from './sys/atomic.js';
export { defaultStorePath } from './store/paths.js';
export { parseReference, formatReference, tagged } from './store/reference.js';
export type { Reference } from './store/reference.js';
export type { TagRecord } from './store/tags.js';
export { BlobBatch } from './store/blob-batch.js';
export type { BlobRef, BlobSink, StagedBlob, PutOptions, ReadOptions } from './store/blobs.js';
export { gc } from './store/gc.js';
export type { GcResult, GcOptions } from './store/gc.js';
export { fsck } from './store/fsck.js';
export type { FsckProblem, FsckResult } from './store/fsck.js';
export { rebuildMeta } from './store/rebuild.js';

export * from './oci/index.js';

export { resolveImage, manifestOf } from './image/resolve.js';
export type { ResolvedImage, ResolveOptions } from './image/resolve.js';
export { listImages, readConfig, summarize } from './image/list.js';
export type { ImageSummary } from './image/list.js';
export { imageHistory } from './image/history.js';
export type { HistoryRow } from './image/history.js';
export { scratchImage, draftOf, appendLayer, writeLayer, withLayer, mutateConfig, writeImage, writeImageWithId } from './image/draft.js';
export type { ImageDraft, AppendLayerOptions, WriteImageOptions, WrittenLayer } from './image/draft.js';

export { copy, openSource, openDestination, parseTransportName, formatTransportName } from './transport/open.js';
export type { CopyOptions } from './transport/open.js';
export { copyImage, transferImage } from './transport/copy.js';
export type { CopyImageOptions, CopyProgress, ImageFormat } from './transport/copy.js';
export type { ImageSource, ImageDestination, ImageRecord, RootDocument } from './transport/types.js';
export { loadArchive, saveImages } from './transport/load.js';
export { pull, push } from './transport/pull-push.js';
export { parseRegistryReference, formatRegistryReference } from './transport/registry/reference.js';
export type { RegistryReference } from './transport/registry/reference.js';
export type { RegistryOptions } from './transport/registry/client.js';
export type { ArchiveFormat, LoadedImage, SaveOptions } from './transport/load.js';

export { packTar, createTarWriter, tarEntries, readTar, listTar, digestLayer, encodeLayer } from './tar/index.js';
export type { TarEntry, TarEntryInit, TarEntryType, Compression } from './tar/index.js';

export { applyLayer } from './layer/apply.js';
export type { ApplyOptions, ApplyResult, ApplyWarning, WhiteoutMode } from './layer/apply.js';
export { unpack, exportRootfs } from './layer/unpack.js';
export type { UnpackOptions, UnpackResult, ExportOptions } from './layer/unpack.js';
export { parseWhiteout, ociToOverlay, overlayToOci, whiteoutEntry } from './layer/whiteout.js';
export { getLayerIndex, indexImage, indexLayers, rebuildMetaWithIndexes } from './layer/index-store.js';
export { buildLayerIndex } from './layer/index-build.js';
export { encodeLayerIndex } from './layer/layer-index.js';
export { decodeLayerIndex, IndexTable, pathKey } from './layer/index-table.js';
export type { LayerIndex } from './layer/layer-index.js';
export type { EntryMetadata, EntryMetadataJSON, FileType } from './layer/entry-meta.js';
export { UnionView, DirectoryUpper, MemoryUpper } from './union/index.js';
export type { UpperLayer } from './union/index.js';

/** The runtime: runtime-spec generation, runc and unshare drivers, supervision (see src/runtime). */
export * as runtime from './runtime/index.js';

export * from './diff/index.js';
export * from './container/index.js';

export { build, recallBuild } from './build/builder.js';
export type { BuildOptions, BuildResult } from './build/builder.js';
export { pruneBuildCache } from './build/prune.js';
export type { PruneBuildCacheOptions, PruneBuildCacheResult } from './build/prune.js';
export { listAllImages, listStepImages } from './build/step-images.js';
export type { BuildEvent } from './build/output.js';
export { formatEvent } from './build/output.js';
export { IgnoreMatcher, readDockerignore } from './build/dockerignore.js';
export { parseDockerfile, parseInstructions, dumpAst } from './build/parser/index.js';
export { expandWord, expandWords } from './build/shell/index.js';
export { applyChanges, applyConfigInstruction } from './build/config-steps.js';
