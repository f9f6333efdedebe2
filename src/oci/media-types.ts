/**
 * @module oci/media-types
 * The media types cairn knows (OCI image-spec media-types.md, Docker image manifest v2 schema 2)
 * and the small predicates and conversions built on them. Schema 1 types are listed only so
 * that a schema 1 manifest can be recognised and refused with a clear error: cairn does not
 * read or write schema 1 (signed JWS manifests, v1 history compatibility blobs).
 *
 * Comparisons are exact: a transport that receives `Content-Type` with parameters
 * (`; charset=utf-8`) strips them before asking.
 */
import { CairnError } from '../errors.js';

export const MediaType = {
  // OCI image-spec
  OciDescriptor: 'application/vnd.oci.descriptor.v1+json',
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated by image-spec 1.1 ("SHOULD NOT produce"), still read. */
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',

  // Docker image manifest v2, schema 2
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Not in Docker's spec; containers/image writes it when converting zstd layers to schema 2. */
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',

  // Docker schema 1: recognised only to be refused.
  DockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** The two manifest formats cairn reads and writes. */
export type ManifestFormat = 'oci' | 'docker';

/** How a layer blob is compressed, as its media type claims (the blob's magic has the last word). */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

interface LayerInfo {
  readonly format: ManifestFormat;
  readonly compression: LayerCompression;
  readonly nondistributable: boolean;
}

const LAYERS: ReadonlyMap<string, LayerInfo> = new Map<string, LayerInfo>([
  [MediaType.OciLayer, { format: 'oci', compression: 'none', nondistributable: false }],
  [MediaType.OciLayerGzip, { format: 'oci', compression: 'gzip', nondistributable: false }],
  [MediaType.OciLayerZstd, { format: 'oci', compression: 'zstd', nondistributable: false }],
  [MediaType.OciLayerNondistributable, { format: 'oci', compression: 'none', nondistributable: true }],
  [MediaType.OciLayerNondistributableGzip, { format: 'oci', compression: 'gzip', nondistributable: true }],
  [MediaType.OciLayerNondistributableZstd, { format: 'oci', compression: 'zstd', nondistributable: true }],
  [MediaType.DockerLayer, { format: 'docker', compression: 'none', nondistributable: false }],
  [MediaType.DockerLayerGzip, { format: 'docker', compression: 'gzip', nondistributable: false }],
  [MediaType.DockerLayerZstd, { format: 'docker', compression: 'zstd', nondistributable: false }],
  [MediaType.DockerForeignLayer, { format: 'docker', compression: 'none', nondistributable: true }],
  [MediaType.DockerForeignLayerGzip, { format: 'docker', compression: 'gzip', nondistributable: true }],
]);

/**
 * OCI ↔ Docker schema 2 pairs. Each type appears once on each side, so the mapping is a
 * bijection on the types listed and a round trip returns the type it started from.
 */
const OCI_DOCKER_PAIRS: ReadonlyArray<readonly [string, string]> = [
  [MediaType.OciManifest, MediaType.DockerManifest],
  [MediaType.OciIndex, MediaType.DockerManifestList],
  [MediaType.OciConfig, MediaType.DockerConfig],
  [MediaType.OciLayer, MediaType.DockerLayer],
  [MediaType.OciLayerGzip, MediaType.DockerLayerGzip],
  [MediaType.OciLayerZstd, MediaType.DockerLayerZstd],
  [MediaType.OciLayerNondistributable, MediaType.DockerForeignLayer],
  [MediaType.OciLayerNondistributableGzip, MediaType.DockerForeignLayerGzip],
];
const TO_DOCKER: ReadonlyMap<string, string> = new Map(OCI_DOCKER_PAIRS);
const TO_OCI: ReadonlyMap<string, string> = new Map(OCI_DOCKER_PAIRS.map(([oci, docker]) => [docker, oci]));

/** An image manifest (OCI or Docker schema 2). Schema 1 is not a manifest cairn can use. */
export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** An image index or a Docker manifest list. */
export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** An image configuration (OCI or Docker). */
export function isConfigType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}

/** A filesystem layer (OCI, Docker, including non-distributable / foreign layers). */
export function isLayerType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && LAYERS.has(mediaType);
}

/** A layer that registries may refuse to host (OCI non-distributable, Docker foreign). */
export function isNondistributableLayerType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && LAYERS.get(mediaType)?.nondistributable === true;
}

/** A Docker schema 1 manifest: recognised so it can be refused with 'unsupported'. */
export function isSchema1Type(mediaType: string | undefined): boolean {
  return mediaType === MediaType.DockerSchema1Manifest || mediaType === MediaType.DockerSchema1SignedManifest;
}

/**
 * The compression a layer media type declares, or undefined for a type that is not a layer.
 *
 * @example layerCompressionFromMediaType('application/vnd.oci.image.layer.v1.tar+zstd') // 'zstd'
 */
export function layerCompressionFromMediaType(mediaType: string): LayerCompression | undefined {
  return LAYERS.get(mediaType)?.compression;
}

/** 'oci' or 'docker' for a type that belongs to one of the two formats, else undefined. */
export function mediaTypeFormat(mediaType: string): ManifestFormat | undefined {
  if (TO_DOCKER.has(mediaType) || mediaType === MediaType.OciLayerNondistributableZstd) return 'oci';
  if (TO_OCI.has(mediaType)) return 'docker';
  if (mediaType.startsWith('application/vnd.oci.')) return 'oci';
  if (mediaType.startsWith('application/vnd.docker.')) return 'docker';
  return undefined;
}

/**
 * Maps a media type to its equivalent in the other format (OCI ↔ Docker schema 2). A type that
 * already belongs to `to`, and a type neither format owns (artifact types, the empty
 * descriptor, custom layer types), comes back unchanged: there is nothing to translate.
 *
 * @throws CairnError 'unsupported' when the type has no equivalent in `to` (OCI
 *   non-distributable zstd layers have no Docker form; schema 1 has no OCI form).
 * @example convertMediaType('application/vnd.oci.image.layer.v1.tar+gzip', 'docker')
 *   // 'application/vnd.docker.image.rootfs.diff.tar.gzip'
 */
export function convertMediaType(mediaType: string, to: ManifestFormat): string {
  const mapped = (to === 'docker' ? TO_DOCKER : TO_OCI).get(mediaType);
  if (mapped !== undefined) return mapped;
  const noEquivalent =
    (to === 'docker' && mediaType === MediaType.OciLayerNondistributableZstd) || (to === 'oci' && isSchema1Type(mediaType));
  if (noEquivalent) {
    throw new CairnError('unsupported', `media type ${mediaType} has no ${to === 'oci' ? 'OCI' : 'Docker'} equivalent`, {
      mediaType,
      to,
    });
  }
  return mediaType;
}

