/**
 * @module oci
 * The OCI / Docker schema 2 document model: media types, typed documents, validation as the
 * image-spec reference validator decides, parsing and sniffing, platforms, config-derived
 * identities and the bytes cairn writes. Browser-safe: no Node built-ins; hashing takes a
 * `HasherFactory`.
 */
export {
  MediaType,
  convertMediaType,
  isConfigType,
  isIndexType,
  isLayerType,
  isManifestType,
  isNondistributableLayerType,
  isSchema1Type,
  layerCompressionFromMediaType,
  mediaTypeFormat,
} from './media-types.js';
export type { KnownMediaType, LayerCompression, ManifestFormat } from './media-types.js';

export type {
  Annotations,
  ContainerConfig,
  Descriptor,
  EmptyObject,
  HealthConfig,
  HistoryEntry,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  LayoutHeader,
  Platform,
  RootFs,
} from './types.js';

export {
  formatFieldPath,
  validateConfig,
  validateDescriptor,
  validateDocument,
  validateIndex,
  validateLayoutHeader,
  validateManifest,
} from './validate.js';
export type { DocumentInput, ValidateOptions } from './validate.js';

export { guessMediaType, parseConfig, parseDocumentKind, parseImageDocument, parseIndex, parseManifest } from './parse.js';
export type { DocumentKind, ImageDocument } from './parse.js';

export {
  compatiblePlatforms,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  selectManifest,
} from './platform.js';
export type { HostInfo, SelectOptions } from './platform.js';

export { chainId, chainIds, configPlatform, historyWithLayers, imageId } from './config.js';
export type { HistoryLayer } from './config.js';

export { encodeDocument } from './encode.js';
