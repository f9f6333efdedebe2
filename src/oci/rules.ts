/**
 * @module oci/rules
 * The rules for each document kind, as data: the Go structs of image-spec `specs-go/v1` (step
 * one of the reference validator) and the JSON Schemas of image-spec `schema/` (step two),
 * restated by hand so cairn carries no JSON-schema engine. Each schema table names the schema
 * file it restates. Lines marked "cairn:" are cairn's own, stricter rules (see
 * spec-notes/oci-image-spec.md); everything else is the reference.
 */
import type { GoType } from './go-decode.js';
import type { Schema } from './schema-check.js';
import { DIGEST_PATTERN, MEDIA_TYPE_PATTERN, digestProblem } from './formats.js';
import { isIndexType, isManifestType } from './media-types.js';

export type DocumentRulesName = 'manifest' | 'index' | 'config' | 'descriptor' | 'layout';

// ---- Go structs (specs-go/v1) ----

const goStrings: GoType = { slice: 'string' };
const goStringMap: GoType = { map: 'string' };

const goPlatform: GoType = {
  struct: { architecture: 'string', os: 'string', 'os.version': 'string', 'os.features': goStrings, variant: 'string' },
};

const goDescriptor: GoType = {
  struct: {
    mediaType: 'string',
    digest: 'string',
    size: 'int',
    urls: goStrings,
    annotations: goStringMap,
    data: 'bytes',
    platform: goPlatform,
    artifactType: 'string',
  },
};

const goManifest: GoType = {
  struct: {
    schemaVersion: 'int',
    mediaType: 'string',
    artifactType: 'string',
    config: goDescriptor,
    layers: { slice: goDescriptor },
    subject: goDescriptor,
    annotations: goStringMap,
  },
};

const goIndex: GoType = {
  struct: {
    schemaVersion: 'int',
    mediaType: 'string',
    artifactType: 'string',
    manifests: { slice: goDescriptor },
    subject: goDescriptor,
    annotations: goStringMap,
  },
};

const goImageConfig: GoType = {
  struct: {
    User: 'string',
    ExposedPorts: { map: 'empty-struct' },
    Env: goStrings,
    Entrypoint: goStrings,
    Cmd: goStrings,
    Volumes: { map: 'empty-struct' },
    WorkingDir: 'string',
    Labels: goStringMap,
    StopSignal: 'string',
    ArgsEscaped: 'bool',
  },
};

const goHistory: GoType = {
  struct: { created: 'time', created_by: 'string', author: 'string', comment: 'string', empty_layer: 'bool' },
};

/** v1.Image, with the embedded v1.Platform's fields promoted. */
const goImage: GoType = {
  struct: {
    created: 'time',
    author: 'string',
    architecture: 'string',
    os: 'string',
    'os.version': 'string',
    'os.features': goStrings,
    variant: 'string',
    config: goImageConfig,
    rootfs: { struct: { type: 'string', diff_ids: goStrings } },
    history: { slice: goHistory },
  },
};

/** The layout header has no Go step in the reference. */
export const GO_TYPES: Readonly<Record<DocumentRulesName, GoType | undefined>> = {
  manifest: goManifest,
  index: goIndex,
  config: goImage,
  descriptor: goDescriptor,
  layout: undefined,
};

// ---- JSON Schemas (schema/*.json) ----

/** defs-descriptor.json#/definitions/mediaType */
const mediaType: Schema = { type: 'string', pattern: MEDIA_TYPE_PATTERN, patternName: 'a media type (type/subtype)' };

/** defs-descriptor.json#/definitions/digest; cairn: registered algorithms must have their exact form. */
const digest: Schema = {
  type: 'string',
  pattern: DIGEST_PATTERN,
  patternName: 'a digest (algorithm:encoded)',
  check: (v) => digestProblem(v as string),
};

/**
 * cairn: a size must also be exact in a JS number. The reference allows up to int64; a blob
 * of 2^53 bytes (8 PiB) is not one cairn will meet, and silently rounding would be worse.
 */
const safeSize = (v: unknown): string | undefined =>
  typeof v === 'number' && v > Number.MAX_SAFE_INTEGER ? `${v} is larger than cairn can represent exactly (2^53-1)` : undefined;

/** defs-descriptor.json#/definitions/size (the 2^63 bound is the schema's float rounding of int64). */
const size: Schema = { type: 'integer', minimum: 0, maximum: 2 ** 63, check: safeSize };

const stringArray: Schema = { type: 'array', items: { type: 'string' } };
const mapStringString: Schema = { type: 'object', values: { type: 'string' } };
const mapStringObject: Schema = { type: 'object', values: { type: 'object' } };
const urls: Schema = { type: 'array', items: { type: 'string', format: 'uri' } };

/** content-descriptor.json */
const descriptor: Schema = {
  type: 'object',
  required: ['mediaType', 'size', 'digest'],
  properties: {
    mediaType,
    size,
    digest,
    urls,
    data: { type: 'string' },
    artifactType: mediaType,
    annotations: mapStringString,
  },
};

/** image-index-schema.json#/properties/manifests/items (the "manifestDescriptor"). */
const manifestDescriptor: Schema = {
  type: 'object',
  required: ['mediaType', 'size', 'digest'],
  properties: {
    mediaType,
    // The reference uses defs.json int64 here, so a negative size passes. cairn: size >= 0 as everywhere.
    size,
    digest,
    urls,
    platform: {
      type: 'object',
      required: ['architecture', 'os'],
      properties: {
        architecture: { type: 'string' },
        os: { type: 'string' },
        'os.version': { type: 'string' },
        'os.features': stringArray,
        variant: { type: 'string' },
      },
    },
    annotations: mapStringString,
  },
};

const schemaVersion: Schema = { type: 'integer', minimum: 2, maximum: 2 };

/** cairn: a document's own `mediaType`, when present, must say what kind of document it is. */
const documentMediaType = (kind: string, accepts: (mt: string) => boolean): Schema => ({
  ...mediaType,
  check: (v) => (accepts(v as string) ? undefined : `${JSON.stringify(v)} is not ${kind} media type`),
});

/** image-manifest-schema.json */
const manifest: Schema = {
  type: 'object',
  required: ['schemaVersion', 'config', 'layers'],
  properties: {
    schemaVersion,
    mediaType: documentMediaType('an image manifest', isManifestType),
    artifactType: mediaType,
    config: descriptor,
    subject: descriptor,
    layers: { type: 'array', minItems: 1, items: descriptor },
    annotations: mapStringString,
  },
};

/** image-index-schema.json */
const index: Schema = {
  type: 'object',
  required: ['schemaVersion', 'manifests'],
  properties: {
    schemaVersion,
    mediaType: documentMediaType('an image index', isIndexType),
    artifactType: mediaType,
    subject: descriptor,
    manifests: { type: 'array', items: manifestDescriptor },
    annotations: mapStringString,
  },
};

const stringArrayOrNull: Schema = { ...stringArray, nullable: true };
const dateTime: Schema = { type: 'string', format: 'date-time' };

/** config-schema.json */
const config: Schema = {
  type: 'object',
  required: ['architecture', 'os', 'rootfs'],
  properties: {
    created: dateTime,
    author: { type: 'string' },
    architecture: { type: 'string' },
    variant: { type: 'string' },
    os: { type: 'string' },
    'os.version': { type: 'string' },
    'os.features': stringArray,
    config: {
      type: 'object',
      properties: {
        User: { type: 'string' },
        ExposedPorts: mapStringObject,
        Env: stringArray,
        Entrypoint: stringArrayOrNull,
        Cmd: stringArrayOrNull,
        Volumes: { ...mapStringObject, nullable: true },
        WorkingDir: { type: 'string' },
        Labels: { ...mapStringString, nullable: true },
        StopSignal: { type: 'string' },
        ArgsEscaped: { type: 'boolean' },
      },
    },
    rootfs: {
      type: 'object',
      required: ['diff_ids', 'type'],
      properties: {
        // cairn: diff IDs are digests (config.md); the reference checks only that they are strings.
        diff_ids: { type: 'array', items: digest },
        type: { type: 'string', enum: ['layers'] },
      },
    },
    history: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          created: dateTime,
          author: { type: 'string' },
          created_by: { type: 'string' },
          comment: { type: 'string' },
          empty_layer: { type: 'boolean' },
        },
      },
    },
  },
};

/** image-layout-schema.json */
const layout: Schema = {
  type: 'object',
  required: ['imageLayoutVersion'],
  properties: { imageLayoutVersion: { type: 'string', enum: ['1.0.0'] } },
};

export const SCHEMAS: Readonly<Record<DocumentRulesName, Schema>> = { manifest, index, config, descriptor, layout };

/**
 * cairn: the manifest schema without `layers`' minimum of one. The schema (and so the reference
 * validator, vector `manifest/06`) wants a layer, but manifest.md only says layers SHOULD have
 * one "for portability", and docker builds and saves such images (`FROM scratch` with config
 * instructions only). The store reads and checks them with this.
 */
export const MANIFEST_WITHOUT_LAYERS: Schema = {
  ...manifest,
  properties: { ...manifest.properties, layers: { type: 'array', items: descriptor } },
};

/** The reference's extra check on a decoded config (validator.go `validateConfig`). */
export const ENV_PATTERN = /^[^=]+=[^\n]*$/; // Go's `^[^=]+=.*$`: `.` excludes only LF, `$` is end of text
