/**
 * @module oci/validate
 * Validation of OCI and Docker schema 2 JSON documents, deciding as the reference validator
 * (image-spec `schema/validator.go`) decides: parse; decode into the Go structs (./go-decode.ts);
 * the config `Env` check; then the JSON Schemas (./schema-check.ts, tables in ./rules.ts).
 * Docker media types follow the same rules, except that `null` in an optional member counts as
 * absent (see `SchemaOptions.nullIsAbsent`).
 *
 * Every failure is a CairnError 'invalid-document' whose message names the document (`where`,
 * e.g. `manifest sha256:abcd…` or a file path) and the field (`layers[2].digest`), with both in
 * `data` ({document, field}). Docker schema 1 is refused with 'unsupported'.
 */
import { CairnError } from '../errors.js';
import { encodeDocument } from './encode.js';
import { goDecodeProblem, goLookup, type Path, type Problem } from './go-decode.js';
import { JsonSyntaxError, decodeUtf8, nodeToValue, parseJsonNodes, type JsonNode } from './json.js';
import { MediaType, isConfigType, isIndexType, isManifestType, isSchema1Type, mediaTypeFormat } from './media-types.js';
import { ENV_PATTERN, GO_TYPES, MANIFEST_WITHOUT_LAYERS, SCHEMAS, type DocumentRulesName } from './rules.js';
import { schemaProblem } from './schema-check.js';

/** Bytes (UTF-8 JSON), JSON text, or a document object (validated as `encodeDocument` writes it). */
export type DocumentInput = Uint8Array | string | object;

export interface ValidateOptions {
  /**
   * The media type the document was declared with (by its descriptor, a registry's
   * Content-Type). When the document also names its own `mediaType`, the two must agree. A
   * Docker type turns on Docker's null leniency; without it, the document's own `mediaType`
   * decides.
   */
  readonly mediaType?: string;
  /**
   * Accept an image manifest with no layers (`MANIFEST_WITHOUT_LAYERS`: the spec's prose allows
   * it, its schema does not). Off by default: the verdict is then the reference validator's.
   */
  readonly allowNoLayers?: boolean;
}

const ACCEPTS: Readonly<Record<DocumentRulesName, (mediaType: string) => boolean>> = {
  manifest: isManifestType,
  index: isIndexType,
  config: isConfigType,
  descriptor: (mt) => mt === MediaType.OciDescriptor,
  layout: (mt) => mt === MediaType.OciLayoutHeader,
};

/** Validates an image manifest (OCI or Docker schema 2). @throws CairnError 'invalid-document' | 'unsupported' */
export function validateManifest(input: DocumentInput, where: string, options: ValidateOptions = {}): void {
  checkDocument('manifest', input, where, options);
}

/** Validates an image index or Docker manifest list. @throws CairnError 'invalid-document' */
export function validateIndex(input: DocumentInput, where: string, options: ValidateOptions = {}): void {
  checkDocument('index', input, where, options);
}

/** Validates an image configuration (OCI or Docker). @throws CairnError 'invalid-document' */
export function validateConfig(input: DocumentInput, where: string, options: ValidateOptions = {}): void {
  checkDocument('config', input, where, options);
}

/** Validates a content descriptor on its own. @throws CairnError 'invalid-document' */
export function validateDescriptor(input: DocumentInput, where: string): void {
  checkDocument('descriptor', input, where, {});
}

/** Validates the `oci-layout` file of an image layout. @throws CairnError 'invalid-document' */
export function validateLayoutHeader(input: DocumentInput, where: string): void {
  checkDocument('layout', input, where, {});
}

/**
 * Validates a document by its media type: manifests, indexes, configs (OCI and Docker),
 * descriptors, the layout header and the empty JSON blob `{}`.
 *
 * @throws CairnError 'invalid-document'; 'unsupported' for Docker schema 1 and for media types
 *   that are not JSON documents cairn knows (layers, artifact types).
 * @example validateDocument(desc.mediaType, bytes, `manifest ${desc.digest}`)
 */
export function validateDocument(mediaType: string, input: DocumentInput, where: string, options: Pick<ValidateOptions, 'allowNoLayers'> = {}): void {
  if (mediaType === MediaType.OciEmpty) {
    const node = parse(input, where);
    if (node.kind !== 'object' || node.members.length > 0) throw invalid(where, [], 'the empty descriptor content must be {}');
    return;
  }
  const rules = rulesFor(mediaType);
  if (rules === undefined) {
    if (isSchema1Type(mediaType)) throw schema1(where, mediaType);
    throw new CairnError('unsupported', `${where}: no validator for media type ${mediaType}`, { document: where, mediaType });
  }
  checkDocument(rules, input, where, { ...options, mediaType });
}

function rulesFor(mediaType: string): DocumentRulesName | undefined {
  return (Object.keys(ACCEPTS) as DocumentRulesName[]).find((rules) => ACCEPTS[rules](mediaType));
}

/**
 * Runs every step for `rules` and returns the value `JSON.parse` gives for the document. For
 * the parsers in ./parse.ts; not exported from the package.
 */
export function checkDocument(rules: DocumentRulesName, input: DocumentInput, where: string, options: ValidateOptions): unknown {
  const declared = options.mediaType;
  if (declared !== undefined && !ACCEPTS[rules](declared)) {
    if (isSchema1Type(declared)) throw schema1(where, declared);
    throw new CairnError('invalid-argument', `${where}: media type ${declared} is not one of a ${rules} document`, {
      document: where,
      mediaType: declared,
    });
  }
  const node = parse(input, where);
  const value = nodeToValue(node);
  // A manifest or index names its own type; a descriptor's mediaType is its target's.
  const own =
    (rules === 'manifest' || rules === 'index') && isRecord(value) && typeof value.mediaType === 'string'
      ? value.mediaType
      : undefined;
  if (rules === 'manifest' && isRecord(value) && value.schemaVersion === 1) {
    throw schema1(where, own ?? MediaType.DockerSchema1Manifest);
  }

  const goType = GO_TYPES[rules];
  const problem =
    (goType && goDecodeProblem(node, goType)) ||
    (rules === 'config' ? envProblem(node) : undefined) ||
    (declared !== undefined && own !== undefined && own !== declared
      ? { path: ['mediaType'], message: `is ${JSON.stringify(own)} but the document was declared as ${declared}` }
      : undefined) ||
    schemaProblem(value, rules === 'manifest' && options.allowNoLayers === true ? MANIFEST_WITHOUT_LAYERS : SCHEMAS[rules], [], { nullIsAbsent: mediaTypeFormat(declared ?? own ?? '') === 'docker' });
  if (problem) throw invalid(where, problem.path, problem.message);
  return value;
}

/** validator.go `validateConfig`: every decoded `config.Env` entry matches `^[^=]+=.*$`. */
function envProblem(node: JsonNode): Problem | undefined {
  const env = goLookup(node, ['config', 'Env'], true);
  if (env?.kind !== 'array') return undefined;
  for (const [i, item] of env.items.entries()) {
    const entry = item.kind === 'string' ? item.value : ''; // Go leaves "" for a null element
    if (!ENV_PATTERN.test(entry)) {
      return { path: ['config', 'Env', i], message: `${JSON.stringify(entry)} is not NAME=value` };
    }
  }
  return undefined;
}

function parse(input: DocumentInput, where: string): JsonNode {
  let text: string;
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) text = decodeUtf8(input);
  else text = decodeUtf8(encodeDocument(input));
  try {
    return parseJsonNodes(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw invalid(where, [], `not valid JSON: ${err.message}`, err);
    throw err;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function schema1(where: string, mediaType: string): CairnError {
  return new CairnError(
    'unsupported',
    `${where}: Docker schema 1 manifests (${mediaType}) are not supported; ask the registry for schema 2 or OCI`,
    { document: where, mediaType },
  );
}

function invalid(where: string, path: Path, message: string, cause?: unknown): CairnError {
  const field = formatFieldPath(path);
  const text = field ? `${where}: ${field}: ${message}` : `${where}: ${message}`;
  return new CairnError('invalid-document', text, { document: where, field }, cause === undefined ? undefined : { cause });
}

/**
 * `layers[2].digest`; keys that are not identifiers are quoted: `annotations["a.b"]`.
 *
 * @example formatFieldPath(['config', 'Env', 0]) // 'config.Env[0]'
 */
export function formatFieldPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}
