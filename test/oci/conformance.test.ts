/**
 * The image-spec schema vectors and spec examples (../shared/conformance/image-spec), and the
 * containers/image manifest-sniffing fixtures, each as its own test so a failure names the file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { digestOf } from '../../src/digest/index.js';
import { guessMediaType, validateDocument } from '../../src/oci/index.js';
import { isCairnError } from '../../src/errors.js';
import { conformancePath, hasShared } from '../support/shared.js';

interface Vector {
  readonly file: string;
  readonly validateAs: string;
  readonly expectValid: boolean;
  readonly note?: string;
  readonly sha256OfExactBytes?: string;
  readonly preprocess?: string;
}

const DOCKER_TO_OCI: ReadonlyArray<readonly [string, string]> = [
  ['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json'],
  ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json'],
  ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
  ['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json'],
];

function loadIndex(...parts: string[]): Vector[] {
  return hasShared ? (JSON.parse(readFileSync(conformancePath(...parts), 'utf8')) as Vector[]) : [];
}

/** 'valid' or the error code + message, so a failing expectation shows why. */
function verdict(mediaType: string, bytes: Uint8Array | string, where: string): string {
  try {
    validateDocument(mediaType, bytes, where);
    return 'valid';
  } catch (err) {
    if (isCairnError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

describe.skipIf(!hasShared)('image-spec vectors (schema/*_test.go)', () => {
  const vectors = loadIndex('image-spec', 'vectors', 'index.json');

  test('the index lists 71 vectors', () => {
    expect(vectors).toHaveLength(71);
  });

  test.each(vectors.map((v) => [v.file, v] as const))('%s', (file, v) => {
    const raw = readFileSync(conformancePath('image-spec', 'vectors', file));
    if (v.sha256OfExactBytes) expect(digestOf(raw)).toBe(v.sha256OfExactBytes);
    let input: Uint8Array | string = raw;
    if (v.preprocess) {
      let text = raw.toString('utf8');
      for (const [docker, oci] of DOCKER_TO_OCI) text = text.split(docker).join(oci);
      input = text;
    }
    const result = verdict(v.validateAs, input, `vector ${file}`);
    if (v.expectValid) expect(result, v.note).toBe('valid');
    else expect(result, v.note).toMatch(/^invalid-document: vector /);
  });

  // The Docker originals of the backwards-compatibility vectors, under their own media types.
  test.each(vectors.filter((v) => v.preprocess).map((v) => [v.file, v] as const))('%s as Docker', (file, v) => {
    const raw = readFileSync(conformancePath('image-spec', 'vectors', file));
    const own = (JSON.parse(raw.toString('utf8')) as { mediaType?: string }).mediaType;
    const mediaType = own ?? 'application/vnd.docker.container.image.v1+json';
    expect(DOCKER_TO_OCI.some(([docker]) => docker === mediaType)).toBe(true);
    expect(verdict(mediaType, raw, file), v.note).toBe('valid');
  });
});

describe.skipIf(!hasShared)('image-spec markdown examples (schema/spec_test.go)', () => {
  const examples = loadIndex('image-spec', 'md-examples', 'index.json');

  test('the index lists 10 examples', () => {
    expect(examples).toHaveLength(10);
  });

  test.each(examples.map((e) => [e.file, e] as const))('%s is valid', (file, e) => {
    const raw = readFileSync(conformancePath('image-spec', 'md-examples', file));
    expect(e.expectValid).toBe(true);
    expect(verdict(e.validateAs, raw, file)).toBe('valid');
  });
});

describe.skipIf(!hasShared)('containers/image manifest sniffing (TestGuessMIMEType)', () => {
  const cases: ReadonlyArray<readonly [string, string | undefined]> = [
    ['v2s2.manifest.json', 'application/vnd.docker.distribution.manifest.v2+json'],
    ['v2list.manifest.json', 'application/vnd.docker.distribution.manifest.list.v2+json'],
    ['v2s1.manifest.json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['v2s1-invalid-signatures.manifest.json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['v2s1-unsigned.manifest.json', 'application/vnd.docker.distribution.manifest.v1+json'],
    ['v2s2nomime.manifest.json', 'application/vnd.docker.distribution.manifest.v2+json'],
    ['unknown-version.manifest.json', undefined],
    ['non-json.manifest.json', undefined],
    ['ociv1.manifest.json', 'application/vnd.oci.image.manifest.v1+json'],
    ['ociv1.artifact.json', 'application/vnd.oci.image.manifest.v1+json'],
    ['ociv1nomime.manifest.json', 'application/vnd.oci.image.manifest.v1+json'],
    ['ociv1nomime.artifact.json', 'application/vnd.oci.image.manifest.v1+json'],
    ['ociv1.image.index.json', 'application/vnd.oci.image.index.v1+json'],
    ['ociv1nomime.image.index.json', 'application/vnd.oci.image.index.v1+json'],
  ];

  test.each(cases)('%s sniffs as %s', (file, expected) => {
    const raw = readFileSync(conformancePath('containers-image', 'internal', 'manifest', 'testdata', file));
    expect(guessMediaType(raw)).toBe(expected);
  });

  test('v2s2.manifest.json digest is the sha256 of its bytes (TestDigest)', () => {
    const raw = readFileSync(conformancePath('containers-image', 'internal', 'manifest', 'testdata', 'v2s2.manifest.json'));
    expect(digestOf(raw)).toBe('sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55');
  });
});
