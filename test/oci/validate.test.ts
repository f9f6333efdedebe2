import { describe, expect, test } from 'vitest';
import { CairnError } from '../../src/errors.js';
import {
  MediaType,
  formatFieldPath,
  validateConfig,
  validateDescriptor,
  validateDocument,
  validateIndex,
  validateLayoutHeader,
  validateManifest,
} from '../../src/oci/index.js';

const D1 = 'sha256:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b';
const D2 = 'sha256:9d3dd9504c685a304985025df4ed0283e47ac9ffa9bd0326fddf4d59513f0827';

const manifest = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, size: 7, digest: D1 },
  layers: [{ mediaType: MediaType.OciLayerGzip, size: 9, digest: D2 }],
  ...over,
});

const config = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  architecture: 'amd64',
  os: 'linux',
  rootfs: { type: 'layers', diff_ids: [D2] },
  ...over,
});

/** The CairnError a call throws (fails the test if it does not throw one). */
function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected a CairnError');
}

describe('error messages name the document and the field', () => {
  test('a bad layer digest', () => {
    const doc = manifest({
      layers: [
        { mediaType: MediaType.OciLayerGzip, size: 9, digest: D2 },
        { mediaType: MediaType.OciLayerGzip, size: 9, digest: D2 },
        { mediaType: MediaType.OciLayerGzip, size: 9, digest: 'sha256:abc' },
      ],
    });
    const err = errorOf(() => validateManifest(doc, 'manifest sha256:abcd…'));
    expect(err.code).toBe('invalid-document');
    expect(err.message).toMatch(/^manifest sha256:abcd…: layers\[2\]\.digest: "sha256:abc" is not a valid sha256 digest/);
    expect(err.data).toEqual({ document: 'manifest sha256:abcd…', field: 'layers[2].digest' });
  });

  test('a missing required field', () => {
    const err = errorOf(() => validateConfig(config({ rootfs: { type: 'layers' } }), '/tmp/x/config.json'));
    expect(err.message).toBe('/tmp/x/config.json: rootfs.diff_ids: is required');
    expect(err.data).toEqual({ document: '/tmp/x/config.json', field: 'rootfs.diff_ids' });
  });

  test('keys that are not identifiers are quoted', () => {
    const err = errorOf(() =>
      validateManifest(manifest({ annotations: { 'org.opencontainers.image.ref.name': 5 } }), 'm'),
    );
    expect(err.data.field).toBe('annotations["org.opencontainers.image.ref.name"]');
    expect(formatFieldPath(['manifests', 0, 'platform', 'os.version'])).toBe('manifests[0].platform["os.version"]');
  });

  test('broken JSON names the document and the offset', () => {
    const err = errorOf(() => validateIndex('{"schemaVersion": 2,', 'index.json'));
    expect(err.code).toBe('invalid-document');
    expect(err.message).toMatch(/^index\.json: not valid JSON: .* at offset 20/);
    expect(err.data).toEqual({ document: 'index.json', field: '' });
  });

  test('config/05 and config/06 fail for their stated reason once os is a string', () => {
    expect(errorOf(() => validateConfig(config({ config: { Env: [7353] } }), 'c')).data.field).toBe('config.Env[0]');
    expect(errorOf(() => validateConfig(config({ config: { Volumes: ['/var/log'] } }), 'c')).message).toBe(
      'c: config.Volumes: must be an object, not an array',
    );
  });
});

describe('Go decoding rules (step one of the reference)', () => {
  test('every occurrence of a duplicated key is type-checked', () => {
    const text = `{"schemaVersion":2,"config":{"mediaType":"${MediaType.OciConfig}","size":"7","size":7,"digest":"${D1}"},"layers":[{"mediaType":"${MediaType.OciLayer}","size":1,"digest":"${D2}"}]}`;
    expect(errorOf(() => validateManifest(text, 'm')).data.field).toBe('config.size');
  });

  test('keys match struct fields case-insensitively, with Go folding', () => {
    expect(errorOf(() => validateManifest(manifest({ SchemaVersion: '2' }), 'm')).data.field).toBe('SchemaVersion');
    // U+017F LATIN SMALL LETTER LONG S folds to S.
    expect(errorOf(() => validateManifest(manifest({ '\u017fchemaVersion': 'x' }), 'm')).message).toContain('must be an integer');
    // A member no field matches is ignored.
    expect(() => validateManifest(manifest({ schemaVersionX: 'x' }), 'm')).not.toThrow();
  });

  test('integers must be written as integers within int64', () => {
    const withSize = (size: string): string =>
      `{"schemaVersion":2,"config":{"mediaType":"${MediaType.OciConfig}","size":${size},"digest":"${D1}"},"layers":[{"mediaType":"${MediaType.OciLayer}","size":1,"digest":"${D2}"}]}`;
    expect(() => validateManifest(withSize('7'), 'm')).not.toThrow();
    expect(errorOf(() => validateManifest(withSize('7.0'), 'm')).message).toContain('without fraction or exponent');
    expect(errorOf(() => validateManifest(withSize('7e0'), 'm')).data.field).toBe('config.size');
    expect(errorOf(() => validateManifest(withSize('9223372036854775808'), 'm')).message).toContain('out of range');
    // cairn: within int64 but beyond what a JS number holds exactly.
    expect(errorOf(() => validateManifest(withSize('9007199254740993'), 'm')).message).toContain('2^53-1');
  });

  test('created is RFC 3339, read from the raw string', () => {
    expect(() => validateConfig(config({ created: '2015-10-31T22:22:56.015925234Z' }), 'c')).not.toThrow();
    expect(() => validateConfig(config({ created: '2015-10-31T22:22:56+02:00' }), 'c')).not.toThrow();
    for (const bad of ['2015-10-31', '2015-10-31 22:22:56Z', '2015-02-30T00:00:00Z', '2015-10-31T24:00:00Z', '2015-10-31T22:22:60Z']) {
      expect(errorOf(() => validateConfig(config({ created: bad }), 'c')).data.field, bad).toBe('created');
    }
    const escaped = JSON.stringify(config()).replace('{', '{"created":"2015-10-31T22:22:56\\u002e5Z",');
    expect(errorOf(() => validateConfig(escaped, 'c')).data.field).toBe('created');
    expect(errorOf(() => validateConfig(config({ history: [{ created: 'yesterday' }] }), 'c')).data.field).toBe(
      'history[0].created',
    );
  });

  test('data is padded standard base64; Go skips CR and LF', () => {
    const desc = (data: unknown): object => ({ mediaType: 'text/plain', size: 2, digest: D1, data });
    expect(() => validateDescriptor(desc('e30='), 'd')).not.toThrow();
    expect(() => validateDescriptor(desc('e3\n0='), 'd')).not.toThrow();
    expect(errorOf(() => validateDescriptor(desc('e30'), 'd')).data.field).toBe('data');
    expect(errorOf(() => validateDescriptor(desc('e3-_'), 'd')).data.field).toBe('data');
  });

  test('members the schema does not list are still type-checked', () => {
    const config = { mediaType: MediaType.OciConfig, size: 7, digest: D1, platform: { architecture: 5 } };
    expect(errorOf(() => validateManifest(manifest({ config }), 'm')).data.field).toBe('config.platform.architecture');
    const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, size: 1, digest: D1, artifactType: 1 }] };
    expect(errorOf(() => validateIndex(index, 'i')).data.field).toBe('manifests[0].artifactType');
    // The schema alone would accept both: a valid platform passes.
    expect(() => validateManifest(manifest({ config: { ...config, platform: { architecture: 'arm64', os: 'linux' } } }), 'm')).not.toThrow();
  });

  test('null passes the Go step but not the schema', () => {
    expect(errorOf(() => validateManifest(manifest({ annotations: null }), 'm')).message).toBe(
      'm: annotations: must be an object, not null',
    );
    expect(errorOf(() => validateManifest('null', 'm')).message).toBe('m: must be an object, not null');
  });
});

describe('reference rules', () => {
  test('an Env entry must be NAME=value, with no newline in the value', () => {
    expect(() => validateConfig(config({ config: { Env: ['A=', 'B=c=d'] } }), 'c')).not.toThrow();
    expect(errorOf(() => validateConfig(config({ config: { Env: ['=x'] } }), 'c')).data.field).toBe('config.Env[0]');
    expect(errorOf(() => validateConfig(config({ config: { Env: ['A=b\nc'] } }), 'c')).data.field).toBe('config.Env[0]');
  });

  test('Entrypoint, Cmd, Volumes and Labels may be null', () => {
    const nulls = { Entrypoint: null, Cmd: null, Volumes: null, Labels: null };
    expect(() => validateConfig(config({ config: nulls }), 'c')).not.toThrow();
  });

  test('rootfs.type must be "layers"', () => {
    expect(errorOf(() => validateConfig(config({ rootfs: { type: 'tar', diff_ids: [] } }), 'c')).data.field).toBe('rootfs.type');
  });

  test('schemaVersion must be 2', () => {
    expect(errorOf(() => validateManifest(manifest({ schemaVersion: 3 }), 'm')).message).toBe(
      'm: schemaVersion: must be at most 2, not 3',
    );
  });

  test('unregistered digest algorithms pass on grammar; registered ones need their exact form', () => {
    const desc = (digest: string): object => ({ mediaType: 'text/plain', size: 1, digest });
    expect(() => validateDescriptor(desc('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564'), 'd')).not.toThrow();
    expect(() => validateDescriptor(desc(`sha512:${'a'.repeat(128)}`), 'd')).not.toThrow();
    expect(() => validateDescriptor(desc(`blake3:${'a'.repeat(64)}`), 'd')).not.toThrow();
    expect(errorOf(() => validateDescriptor(desc(`sha512:${'a'.repeat(64)}`), 'd')).message).toContain('128 hex characters');
    expect(errorOf(() => validateDescriptor(desc(`sha384:${'a'.repeat(64)}`), 'd')).message).toContain('96 hex characters');
  });

  test('urls must be absolute URIs as Go url.Parse reads them', () => {
    const desc = (url: string): object => ({ mediaType: 'text/plain', size: 1, digest: D1, urls: [url] });
    for (const good of ['https://example.com/foo', 'http://[::1]:5000/v2/', 'mailto:someone', 'https://h/a%20b#frag']) {
      expect(() => validateDescriptor(desc(good), 'd'), good).not.toThrow();
    }
    for (const bad of ['value', '/relative/path', 'https://exa mple.com/', 'https://h:port/', 'https://h/%zz', 'https://::1/', 'http://[zz]/', 'a\tb:c']) {
      expect(errorOf(() => validateDescriptor(desc(bad), 'd')).data.field, bad).toBe('urls[0]');
    }
  });

  test('an index entry needs platform.os and platform.architecture', () => {
    const index = {
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.OciManifest, size: 1, digest: D1, platform: { architecture: 'amd64' } }],
    };
    expect(errorOf(() => validateIndex(index, 'i')).data.field).toBe('manifests[0].platform.os');
  });

  test('the layout header', () => {
    expect(() => validateLayoutHeader('{"imageLayoutVersion":"1.0.0"}', 'oci-layout')).not.toThrow();
    expect(errorOf(() => validateLayoutHeader('{"imageLayoutVersion":"1.1.0"}', 'oci-layout')).message).toBe(
      'oci-layout: imageLayoutVersion: must be one of "1.0.0", not "1.1.0"',
    );
  });
});

describe("cairn's stricter rules", () => {
  test("a manifest's own mediaType must be a manifest type", () => {
    const err = errorOf(() => validateManifest(manifest({ mediaType: MediaType.OciIndex }), 'm'));
    expect(err.data.field).toBe('mediaType');
    expect(errorOf(() => validateIndex({ schemaVersion: 2, mediaType: MediaType.OciManifest, manifests: [] }, 'i')).data.field).toBe(
      'mediaType',
    );
  });

  test('the declared media type must agree with the one the document names', () => {
    const err = errorOf(() => validateDocument(MediaType.DockerManifest, JSON.stringify(manifest()), 'm'));
    expect(err.message).toBe(`m: mediaType: is "${MediaType.OciManifest}" but the document was declared as ${MediaType.DockerManifest}`);
  });

  test('a negative size is refused in index entries too', () => {
    const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, size: -1, digest: D1 }] };
    expect(errorOf(() => validateIndex(index, 'i')).data.field).toBe('manifests[0].size');
  });

  test('diff_ids must be digests', () => {
    expect(errorOf(() => validateConfig(config({ rootfs: { type: 'layers', diff_ids: ['x'] } }), 'c')).data.field).toBe(
      'rootfs.diff_ids[0]',
    );
  });
});

describe('Docker media types', () => {
  const dockerConfig = config({ config: { Env: null, OnBuild: null, Cmd: null } });

  test('null in an optional member counts as absent (Docker writes nil slices as null)', () => {
    expect(() => validateDocument(MediaType.DockerConfig, JSON.stringify(dockerConfig), 'c')).not.toThrow();
    expect(() => validateConfig(dockerConfig, 'c', { mediaType: MediaType.DockerConfig })).not.toThrow();
    // The same document as an OCI config is refused, as the reference refuses it.
    expect(errorOf(() => validateDocument(MediaType.OciConfig, JSON.stringify(dockerConfig), 'c')).data.field).toBe('config.Env');
  });

  test('a required member may still not be null', () => {
    const err = errorOf(() => validateDocument(MediaType.DockerConfig, JSON.stringify(config({ os: null })), 'c'));
    expect(err.data.field).toBe('os');
  });

  test("a Docker manifest's own mediaType turns the leniency on", () => {
    const doc = manifest({ mediaType: MediaType.DockerManifest, annotations: null });
    expect(() => validateManifest(doc, 'm')).not.toThrow();
  });
});

describe('validateDocument', () => {
  test('schema 1 is refused as unsupported', () => {
    const s1 = '{"schemaVersion":1,"name":"x","tag":"latest","fsLayers":[]}';
    expect(errorOf(() => validateDocument(MediaType.DockerSchema1SignedManifest, s1, 'm')).code).toBe('unsupported');
    const err = errorOf(() => validateManifest(s1, 'manifest sha256:1234'));
    expect(err.code).toBe('unsupported');
    expect(err.message).toMatch(/^manifest sha256:1234: Docker schema 1/);
  });

  test('the empty descriptor content is {}', () => {
    expect(() => validateDocument(MediaType.OciEmpty, '{}', 'e')).not.toThrow();
    expect(errorOf(() => validateDocument(MediaType.OciEmpty, '{"a":1}', 'e')).code).toBe('invalid-document');
  });

  test('types without a validator are unsupported', () => {
    expect(errorOf(() => validateDocument(MediaType.OciLayerGzip, new Uint8Array([0x1f, 0x8b]), 'l')).code).toBe('unsupported');
  });

  test('bytes, text and objects validate alike; a BOM is not JSON', () => {
    const text = JSON.stringify(manifest());
    expect(() => validateDocument(MediaType.OciManifest, new TextEncoder().encode(text), 'm')).not.toThrow();
    expect(() => validateDocument(MediaType.OciManifest, text, 'm')).not.toThrow();
    expect(() => validateDocument(MediaType.OciManifest, manifest(), 'm')).not.toThrow();
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
    expect(errorOf(() => validateDocument(MediaType.OciManifest, bom, 'm')).message).toMatch(/not valid JSON/);
  });

  test('a declared type that does not fit the validator is an argument error', () => {
    expect(errorOf(() => validateManifest(manifest(), 'm', { mediaType: MediaType.OciIndex })).code).toBe('invalid-argument');
  });
});
