import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { nodeSha256, type Digest } from '../../src/digest/index.js';
import { nobleSha256 } from '../../src/digest/noble.js';
import {
  chainId,
  chainIds,
  configPlatform,
  historyWithLayers,
  imageId,
  parseConfig,
  type ImageConfig,
} from '../../src/oci/index.js';
import { isCairnError } from '../../src/errors.js';
import { conformancePath, hasShared } from '../support/shared.js';

// identity/chainid_test.go uses fake ids that are not valid digests; the algorithm does not care.
const fake = (s: string): Digest => s as Digest;
const sha = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('chainIds (config.md ChainID, identity/chainid_test.go)', () => {
  test.each([
    ['node:crypto', nodeSha256],
    ['@noble/hashes', nobleSha256],
  ])('the restated cases, with %s', (_name, hasher) => {
    expect(chainIds([], hasher)).toEqual([]);
    expect(chainIds([fake('sha256:a')], hasher)).toEqual(['sha256:a']);
    const x = sha('sha256:a sha256:b');
    expect(chainIds([fake('sha256:a'), fake('sha256:b')], hasher)).toEqual(['sha256:a', x]);
    expect(chainIds([fake('sha256:a'), fake('sha256:b'), fake('sha256:c')], hasher)).toEqual([
      'sha256:a',
      x,
      sha(`${x} sha256:c`),
    ]);
  });

  test('chainId is the last ChainID; an empty stack has none', () => {
    const ids = [fake('sha256:a'), fake('sha256:b'), fake('sha256:c')];
    expect(chainId(ids, nodeSha256)).toBe(chainIds(ids, nodeSha256).at(-1));
    try {
      chainId([], nodeSha256);
      expect.unreachable();
    } catch (err) {
      expect(isCairnError(err, 'invalid-argument')).toBe(true);
    }
  });
});

describe.skipIf(!hasShared)('imageId', () => {
  test('is the digest of the exact config bytes (backwards_compatibility/03: docker:1.12.1)', () => {
    const file = 'backwards_compatibility/03-valid.json';
    const bytes = readFileSync(conformancePath('image-spec', 'vectors', file));
    const vectors = JSON.parse(readFileSync(conformancePath('image-spec', 'vectors', 'index.json'), 'utf8')) as Array<{
      file: string;
      sha256OfExactBytes?: string;
    }>;
    const expected = vectors.find((v) => v.file === file)?.sha256OfExactBytes;
    expect(expected).toMatch(/^sha256:/);
    expect(imageId(bytes, nodeSha256)).toBe(expected);
    expect(imageId(bytes, nobleSha256)).toBe(expected);
  });
});

describe('historyWithLayers', () => {
  const d = (n: number): Digest => `sha256:${String(n).repeat(64).slice(0, 64)}` as Digest;
  const base = { architecture: 'amd64', os: 'linux' } as const;

  test('empty_layer steps get no layer', () => {
    const config: ImageConfig = {
      ...base,
      rootfs: { type: 'layers', diff_ids: [d(1), d(2)] },
      history: [{ created_by: 'ADD' }, { created_by: 'ENV', empty_layer: true }, { created_by: 'RUN' }],
    };
    expect(historyWithLayers(config)).toEqual([
      { history: { created_by: 'ADD' }, diffId: d(1), layerIndex: 0 },
      { history: { created_by: 'ENV', empty_layer: true }, diffId: undefined, layerIndex: undefined },
      { history: { created_by: 'RUN' }, diffId: d(2), layerIndex: 1 },
    ]);
  });

  test('a mismatch stays visible: extra layers and extra steps are both listed', () => {
    const short: ImageConfig = { ...base, rootfs: { type: 'layers', diff_ids: [d(1), d(2)] }, history: [{ created_by: 'A' }] };
    expect(historyWithLayers(short).map((h) => [h.history?.created_by, h.layerIndex])).toEqual([
      ['A', 0],
      [undefined, 1],
    ]);
    const long: ImageConfig = { ...base, rootfs: { type: 'layers', diff_ids: [d(1)] }, history: [{ created_by: 'A' }, { created_by: 'B' }] };
    expect(historyWithLayers(long).map((h) => [h.history?.created_by, h.layerIndex])).toEqual([
      ['A', 0],
      ['B', undefined],
    ]);
  });

  test.skipIf(!hasShared)('a real Docker config (backwards_compatibility/03)', () => {
    const bytes = readFileSync(conformancePath('image-spec', 'vectors', 'backwards_compatibility', '03-valid.json'));
    const config = parseConfig(bytes, 'docker:1.12.1 config', { mediaType: 'application/vnd.docker.container.image.v1+json' });
    const pairs = historyWithLayers(config);
    expect(pairs.filter((p) => p.diffId !== undefined).map((p) => p.diffId)).toEqual(config.rootfs.diff_ids);
    expect(pairs.every((p) => p.history !== undefined)).toBe(true);
  });
});

test('configPlatform', () => {
  const config: ImageConfig = { architecture: 'arm64', os: 'linux', variant: 'v8', rootfs: { type: 'layers', diff_ids: [] } };
  expect(configPlatform(config)).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' });
});
