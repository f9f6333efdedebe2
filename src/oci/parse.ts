/**
 * @module oci/parse
 * Typed views of validated documents, and telling a manifest from an index when nothing says
 * which (a file in a docker-save archive, an old layout without `mediaType`).
 *
 * Parsing always validates (./validate.ts): a value of `ImageManifest` type has passed the
 * reference rules (less the schema's one-layer minimum: the spec's prose allows none). The value is what `JSON.parse` gives, so members the types do not list
 * stay available at run time; the bytes, not the value, are what is stored and hashed.
 */
import { CairnError } from '../errors.js';
import { goDecodeProblem, goLookup, type GoType } from './go-decode.js';
import { decodeUtf8, parseJsonNodes, type JsonNode } from './json.js';
import { MediaType, isIndexType, isManifestType, isSchema1Type } from './media-types.js';
import { GO_TYPES } from './rules.js';
import type { ImageConfig, ImageIndex, ImageManifest } from './types.js';
import { checkDocument, type ValidateOptions } from './validate.js';

/**
 * Accepts a manifest with no layers unless `allowNoLayers: false` (images docker builds from
 * `FROM scratch` with config instructions only; see rules `MANIFEST_WITHOUT_LAYERS`).
 *
 * @throws CairnError 'invalid-document', or 'unsupported' for Docker schema 1
 */
export function parseManifest(input: Uint8Array | string, where: string, options: ValidateOptions = {}): ImageManifest {
  return checkDocument('manifest', input, where, { allowNoLayers: true, ...options }) as ImageManifest;
}

/** @throws CairnError 'invalid-document' */
export function parseIndex(input: Uint8Array | string, where: string, options: ValidateOptions = {}): ImageIndex {
  return checkDocument('index', input, where, options) as ImageIndex;
}

/** @throws CairnError 'invalid-document' */
export function parseConfig(input: Uint8Array | string, where: string, options: ValidateOptions = {}): ImageConfig {
  return checkDocument('config', input, where, options) as ImageConfig;
}

export interface DocumentKind {
  readonly kind: 'manifest' | 'index';
  /** The declared type when it was specific, else the one sniffed from the document. */
  readonly mediaType: string;
}

/** Declared types that say nothing about the document (registries and CDNs send these). */
const GENERIC_TYPES: ReadonlySet<string> = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

/**
 * Whether `input` is an image manifest or an image index. A specific declared media type is
 * trusted (parsing checks it against the document); a missing or generic one
 * (`application/json`, `application/octet-stream`) is replaced by `guessMediaType`.
 *
 * @throws CairnError 'unsupported' for Docker schema 1 or a declared type that is neither a
 *   manifest nor an index; 'invalid-document' when the document does not say.
 * @example parseDocumentKind(bytes) // { kind: 'index', mediaType: 'application/vnd.oci.image.index.v1+json' }
 */
export function parseDocumentKind(input: Uint8Array | string, declaredMediaType?: string, where = 'document'): DocumentKind {
  const specific = declaredMediaType !== undefined && !GENERIC_TYPES.has(declaredMediaType);
  const mediaType = specific ? declaredMediaType : guessMediaType(input);
  if (isManifestType(mediaType)) return { kind: 'manifest', mediaType: mediaType as string };
  if (isIndexType(mediaType)) return { kind: 'index', mediaType: mediaType as string };
  if (mediaType !== undefined && isSchema1Type(mediaType)) {
    throw new CairnError('unsupported', `${where}: Docker schema 1 manifests (${mediaType}) are not supported`, {
      document: where,
      mediaType,
    });
  }
  if (specific) {
    throw new CairnError('unsupported', `${where}: media type ${declaredMediaType} is not an image manifest or index`, {
      document: where,
      mediaType: declaredMediaType,
    });
  }
  throw new CairnError('invalid-document', `${where}: cannot tell whether this is an image manifest or an image index`, {
    document: where,
    field: '',
  });
}

/** A manifest or an index, parsed according to `parseDocumentKind`. */
export type ImageDocument =
  | { readonly kind: 'manifest'; readonly mediaType: string; readonly manifest: ImageManifest }
  | { readonly kind: 'index'; readonly mediaType: string; readonly index: ImageIndex };

/** Sniffs (when needed) and parses a manifest or an index. @throws as parseDocumentKind, parseManifest */
export function parseImageDocument(input: Uint8Array | string, where: string, declaredMediaType?: string): ImageDocument {
  const { kind, mediaType } = parseDocumentKind(input, declaredMediaType, where);
  // A sniffed type is only a guess: validate against what the document itself says.
  const options = declaredMediaType !== undefined && !GENERIC_TYPES.has(declaredMediaType) ? { mediaType } : {};
  return kind === 'manifest'
    ? { kind, mediaType, manifest: parseManifest(input, where, options) }
    : { kind, mediaType, index: parseIndex(input, where, options) };
}

const sniffMeta: GoType = { struct: { mediaType: 'string', schemaVersion: 'int' } };
const sniffConfig: GoType = { struct: { config: { struct: { mediaType: 'string' } } } };
const sniffManifests: GoType = { struct: { manifests: { slice: GO_TYPES.descriptor as GoType } } };

/**
 * The media type of a manifest-like document guessed from its content, or undefined when
 * unrecognised; containers/image's `GuessMIMEType`, decided the same way (Go decoding rules
 * included): a recognised `mediaType` member wins; `schemaVersion: 1` is Docker schema 1
 * (signed when `signatures` is present); `schemaVersion: 2` is an OCI manifest when the config
 * is an OCI config, Docker schema 2 when it is a Docker config, an OCI index when `manifests`
 * is non-empty, and otherwise an OCI manifest (an artifact). One deliberate difference: a
 * document with both a non-empty `manifests` and a config media type is ambiguous and gives
 * undefined (containers/image returns the config's media type, marked FIXME there).
 */
export function guessMediaType(input: Uint8Array | string): string | undefined {
  let node: JsonNode;
  try {
    node = parseJsonNodes(typeof input === 'string' ? input : decodeUtf8(input));
  } catch {
    return undefined;
  }
  if (goDecodeProblem(node, sniffMeta)) return undefined;
  const mediaType = stringAt(node, ['mediaType']);
  if (isManifestType(mediaType) || isIndexType(mediaType)) return mediaType;
  const schemaVersion = goLookup(node, ['schemaVersion']);
  const version = schemaVersion?.kind === 'number' ? schemaVersion.value : 0;
  if (version === 1) {
    return goLookup(node, ['signatures'], true) ? MediaType.DockerSchema1SignedManifest : MediaType.DockerSchema1Manifest;
  }
  if (version !== 2 || goDecodeProblem(node, sniffConfig)) return undefined;
  const configType = stringAt(node, ['config', 'mediaType']);
  if (configType === MediaType.OciConfig) return MediaType.OciManifest;
  if (configType === MediaType.DockerConfig) return MediaType.DockerManifest;
  if (goDecodeProblem(node, sniffManifests)) return undefined;
  const manifests = goLookup(node, ['manifests'], true);
  if (manifests?.kind === 'array' && manifests.items.length > 0) {
    return configType === undefined || configType === '' ? MediaType.OciIndex : undefined;
  }
  return MediaType.OciManifest;
}

function stringAt(node: JsonNode, path: readonly string[]): string | undefined {
  const found = goLookup(node, path);
  return found?.kind === 'string' ? found.value : undefined;
}
