import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { CairnError } from '../../src/errors.js';
import { digestOf } from '../../src/digest/index.js';
import {
  MediaType,
  encodeDocument,
  guessMediaType,
  parseConfig,
  parseDocumentKind,
  parseImageDocument,
  parseIndex,
  parseManifest,
  validateDocument,
  type ImageManifest,
} from '../../src/oci/index.js';
import { conformancePath, hasShared } from '../support/shared.js';

const D1 = 'sha256:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b';

const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, size: 2, digest: D1 },
  layers: [{ mediaType: MediaType.OciLayer, size: 2, digest: D1 }],
};
const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, size: 2, digest: D1 }] };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err.code;
    throw err;
  }
  return 'ok';
}

describe('parse*', () => {
  test('returns the document, unknown members included', () => {
    const bytes = encodeDocument({ ...ociManifest, 'x-extra': true });
    const m: ImageManifest = parseManifest(bytes, 'm');
    expect(m.layers[0]?.digest).toBe(D1);
    expect((m as unknown as Record<string, unknown>)['x-extra']).toBe(true);
  });

  test('validates', () => {
    expect(codeOf(() => parseManifest('{"schemaVersion":2}', 'm'))).toBe('invalid-document');
    expect(codeOf(() => parseIndex(encodeDocument(ociManifest), 'i'))).toBe('invalid-document');
    expect(codeOf(() => parseConfig('{}', 'c'))).toBe('invalid-document');
  });

  test('a manifest with no layers: read (the prose says SHOULD), refused by the reference verdict (the schema)', () => {
    const bytes = encodeDocument({ ...ociManifest, layers: [] });
    expect(parseManifest(bytes, 'm').layers).toEqual([]);
    expect(codeOf(() => parseManifest(bytes, 'm', { allowNoLayers: false }))).toBe('invalid-document');
    expect(codeOf(() => validateDocument(MediaType.OciManifest, bytes, 'm'))).toBe('invalid-document');
    expect(() => validateDocument(MediaType.OciManifest, bytes, 'm', { allowNoLayers: true })).not.toThrow();
    expect(codeOf(() => parseManifest(encodeDocument({ ...ociManifest, layers: [{}] }), 'm'))).toBe('invalid-document');
  });

  test.skipIf(!hasShared)('a real Docker manifest list and config', () => {
    const vectors = conformancePath('image-spec', 'vectors', 'backwards_compatibility');
    const list = parseIndex(readFileSync(path.join(vectors, '01-valid.json')), 'list');
    expect(list.mediaType).toBe(MediaType.DockerManifestList);
    expect(list.manifests.length).toBeGreaterThan(1);
    const config = parseConfig(readFileSync(path.join(vectors, '04-valid.json')), 'fedora:23', { mediaType: MediaType.DockerConfig });
    expect(config.config?.Cmd).toBeNull();
  });
});

describe('parseDocumentKind', () => {
  test('sniffs when nothing, or something generic, is declared', () => {
    expect(parseDocumentKind(encodeDocument(ociManifest))).toEqual({ kind: 'manifest', mediaType: MediaType.OciManifest });
    expect(parseDocumentKind(encodeDocument(index), 'application/json')).toEqual({ kind: 'index', mediaType: MediaType.OciIndex });
    expect(parseDocumentKind(encodeDocument(index), 'application/octet-stream').kind).toBe('index');
  });

  test('trusts a specific declared type', () => {
    expect(parseDocumentKind('{}', MediaType.DockerManifestList)).toEqual({ kind: 'index', mediaType: MediaType.DockerManifestList });
  });

  test('refuses schema 1, other types and unrecognisable documents', () => {
    expect(codeOf(() => parseDocumentKind('{"schemaVersion":1,"signatures":[]}'))).toBe('unsupported');
    expect(codeOf(() => parseDocumentKind('{}', MediaType.DockerSchema1Manifest))).toBe('unsupported');
    expect(codeOf(() => parseDocumentKind('{}', MediaType.OciConfig))).toBe('unsupported');
    expect(codeOf(() => parseDocumentKind('{"schemaVersion":3}'))).toBe('invalid-document');
    expect(codeOf(() => parseDocumentKind('not json'))).toBe('invalid-document');
  });

  test('parseImageDocument parses what it sniffed, and checks a declared type', () => {
    const doc = parseImageDocument(encodeDocument(index), 'i');
    expect(doc.kind === 'index' && doc.index.manifests.length).toBe(1);
    expect(codeOf(() => parseImageDocument(encodeDocument(ociManifest), 'm', MediaType.DockerManifest))).toBe('invalid-document');
  });
});

describe('guessMediaType follows Go decoding', () => {
  test('a mediaType of the wrong JSON type makes the document unrecognised', () => {
    expect(guessMediaType('{"mediaType":5,"schemaVersion":2}')).toBeUndefined();
    expect(guessMediaType('{"schemaVersion":2.0}')).toBeUndefined();
  });

  test('keys match case-insensitively', () => {
    expect(guessMediaType(`{"MediaType":"${MediaType.OciIndex}"}`)).toBe(MediaType.OciIndex);
  });

  test('schema 1: signatures: null is unsigned', () => {
    expect(guessMediaType('{"schemaVersion":1,"signatures":null}')).toBe(MediaType.DockerSchema1Manifest);
    expect(guessMediaType('{"schemaVersion":1,"signatures":[]}')).toBe(MediaType.DockerSchema1SignedManifest);
  });

  test('an empty manifests list with no config is an (artifact) manifest; both config and manifests is ambiguous', () => {
    expect(guessMediaType('{"schemaVersion":2,"manifests":[]}')).toBe(MediaType.OciManifest);
    const both = `{"schemaVersion":2,"config":{"mediaType":"application/x+json"},"manifests":[{"mediaType":"a/b","size":1,"digest":"${D1}"}]}`;
    expect(guessMediaType(both)).toBeUndefined();
  });
});

describe('encodeDocument', () => {
  test('JSON.stringify in the object key order, no sorting, no trailing newline', () => {
    const bytes = encodeDocument({ schemaVersion: 2, b: 1, a: [1, 2], skipped: undefined });
    expect(new TextDecoder().decode(bytes)).toBe('{"schemaVersion":2,"b":1,"a":[1,2]}');
  });

  test('the same object always gives the same bytes and digest', () => {
    expect(digestOf(encodeDocument(ociManifest))).toBe(digestOf(encodeDocument(structuredClone(ociManifest))));
  });

  test.skipIf(!hasShared)('parsing never changes the stored bytes: digests are of the original', () => {
    const file = conformancePath('image-spec', 'vectors', 'backwards_compatibility', '02-valid.json');
    const raw = readFileSync(file);
    const reencoded = encodeDocument(parseManifest(raw, 'm'));
    expect(digestOf(reencoded)).not.toBe(digestOf(raw)); // indentation differs: never re-encode what you read
  });
});

test('src/oci is browser-safe: no Node built-ins, hashing only through a HasherFactory type', () => {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'oci');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(path.join(dir, file), 'utf8');
    const imports = [...source.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)].map((m) => ({ type: Boolean(m[1]), from: m[2] }));
    for (const { type, from } of imports) {
      expect(from, `${file} imports ${from}`).not.toMatch(/^node:|^(fs|crypto|path|os|stream)$/);
      // ../digest/index.js and hasher.js pull in node:crypto; only type imports may name them.
      if (!type) expect(from, `${file} imports ${from}`).not.toMatch(/digest\/(index|hasher|stream)\.js$/);
    }
    expect(source, file).toMatch(/^\/\*\*\n \* @module /);
    expect(source.split('\n').length, file).toBeLessThan(400);
  }
});
