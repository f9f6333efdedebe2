/**
 * @module oci/types
 * The OCI / Docker schema 2 document model as TypeScript types: descriptors, platforms, image
 * manifests, indexes and image configurations. Field names and spelling are the JSON ones
 * (`os.version`, `diff_ids`, `Env`), so a value of these types is the document itself and
 * `encodeDocument` writes it as is. Everything is readonly: documents are content-addressed,
 * and a change makes a new document with a new digest.
 *
 * A parsed document may carry members these types do not list (unknown annotations,
 * Docker's `container_config`, future fields); they are kept at run time and not typed.
 */
import type { Digest } from '../digest/digest.js';

/** String-to-string metadata (`annotations`, `Labels`). */
export type Annotations = Readonly<Record<string, string>>;

/** A value of a Go `map[string]struct{}` set (`ExposedPorts`, `Volumes`): always `{}`. */
export type EmptyObject = Readonly<Record<string, never>>;

/** Where an image runs (image-index.md `platform`, config.md top-level fields). */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  /** Reserved by image-spec 1.0, removed in 1.1; kept so old documents keep their value. */
  readonly features?: readonly string[];
}

/** A content descriptor (descriptor.md). */
export interface Descriptor {
  readonly mediaType: string;
  /**
   * The digest as written. Validation accepts any digest that matches the grammar (as the
   * spec asks), so this may use an algorithm cairn cannot compute; `isDigest` from
   * `src/digest` tells whether the store can verify it.
   */
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Annotations;
  /** Base64 (standard alphabet, padded) of the content itself. */
  readonly data?: string;
  readonly platform?: Platform;
  readonly artifactType?: string;
}

/** An image manifest (manifest.md), OCI or Docker schema 2. */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Annotations;
}

/** An image index (image-index.md), or a Docker manifest list. */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Annotations;
}

/** Docker's HEALTHCHECK settings (durations in nanoseconds, as Go writes them). */
export interface HealthConfig {
  readonly Test?: readonly string[] | null;
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly StartPeriod?: number;
  readonly StartInterval?: number;
  readonly Retries?: number;
}

/**
 * The execution parameters (config.md `config`). The OCI fields come first; the rest are
 * Docker's, which OCI tools ignore but Docker and cairn's build keep. `null` appears where the
 * schema allows it (Go writes nil slices and maps as null); for `Env` only in Docker configs.
 */
export interface ContainerConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, EmptyObject>>;
  readonly Env?: readonly string[] | null;
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, EmptyObject>> | null;
  readonly WorkingDir?: string;
  readonly Labels?: Annotations | null;
  readonly StopSignal?: string;
  /** Deprecated by OCI; Docker sets it for Windows images and for shell-form commands. */
  readonly ArgsEscaped?: boolean;
  // Docker-only fields.
  readonly Healthcheck?: HealthConfig;
  readonly OnBuild?: readonly string[] | null;
  readonly Shell?: readonly string[];
  readonly StopTimeout?: number;
}

/** One entry of the config's `history` (config.md). */
export interface HistoryEntry {
  /** RFC 3339 date-time. */
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  /** True when the step changed only the config, so it has no layer (and no diff ID). */
  readonly empty_layer?: boolean;
}

export interface RootFs {
  readonly type: 'layers';
  /** DiffIDs (digests of the uncompressed layer tars), bottom layer first. */
  readonly diff_ids: readonly Digest[];
}

/** An image configuration (config.md), OCI or Docker. */
export interface ImageConfig {
  /** RFC 3339 date-time. */
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  readonly config?: ContainerConfig;
  readonly rootfs: RootFs;
  readonly history?: readonly HistoryEntry[];
}

/** The `oci-layout` file at the root of an image layout (image-layout.md). */
export interface LayoutHeader {
  readonly imageLayoutVersion: '1.0.0';
}
