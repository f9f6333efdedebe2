import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import {
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
  type ManifestFormat,
} from '../../src/oci/index.js';

const ALL = Object.values(MediaType);

describe('predicates', () => {
  test('manifest, index and config types, OCI and Docker', () => {
    expect(ALL.filter(isManifestType)).toEqual([MediaType.OciManifest, MediaType.DockerManifest]);
    expect(ALL.filter(isIndexType)).toEqual([MediaType.OciIndex, MediaType.DockerManifestList]);
    expect(ALL.filter(isConfigType)).toEqual([MediaType.OciConfig, MediaType.DockerConfig]);
    expect(isManifestType(undefined)).toBe(false);
  });

  test('schema 1 is recognised but is not a manifest type', () => {
    expect(ALL.filter(isSchema1Type)).toEqual([MediaType.DockerSchema1Manifest, MediaType.DockerSchema1SignedManifest]);
    expect(isManifestType(MediaType.DockerSchema1Manifest)).toBe(false);
  });

  test('layer types and their compression', () => {
    const layers = ALL.filter(isLayerType);
    expect(layers).toHaveLength(11);
    expect(layers.map((mt) => layerCompressionFromMediaType(mt))).toEqual([
      'none', 'gzip', 'zstd', 'none', 'gzip', 'zstd', 'none', 'gzip', 'zstd', 'none', 'gzip',
    ]);
    expect(layers.filter(isNondistributableLayerType)).toEqual([
      MediaType.OciLayerNondistributable,
      MediaType.OciLayerNondistributableGzip,
      MediaType.OciLayerNondistributableZstd,
      MediaType.DockerForeignLayer,
      MediaType.DockerForeignLayerGzip,
    ]);
    expect(layerCompressionFromMediaType(MediaType.OciConfig)).toBeUndefined();
    expect(isLayerType(MediaType.OciEmpty)).toBe(false);
  });

  test('format of a media type', () => {
    expect(mediaTypeFormat(MediaType.OciLayerNondistributableZstd)).toBe('oci');
    expect(mediaTypeFormat(MediaType.DockerForeignLayer)).toBe('docker');
    expect(mediaTypeFormat('application/vnd.example+type')).toBeUndefined();
  });
});

describe('convertMediaType', () => {
  test('the pairs containers/image uses (image/fixtures/*-all-media-types*)', () => {
    expect(convertMediaType(MediaType.OciManifest, 'docker')).toBe(MediaType.DockerManifest);
    expect(convertMediaType(MediaType.OciIndex, 'docker')).toBe(MediaType.DockerManifestList);
    expect(convertMediaType(MediaType.OciConfig, 'docker')).toBe(MediaType.DockerConfig);
    expect(convertMediaType(MediaType.OciLayer, 'docker')).toBe(MediaType.DockerLayer);
    expect(convertMediaType(MediaType.OciLayerGzip, 'docker')).toBe(MediaType.DockerLayerGzip);
    expect(convertMediaType(MediaType.OciLayerZstd, 'docker')).toBe(MediaType.DockerLayerZstd);
    expect(convertMediaType(MediaType.OciLayerNondistributable, 'docker')).toBe(MediaType.DockerForeignLayer);
    expect(convertMediaType(MediaType.OciLayerNondistributableGzip, 'docker')).toBe(MediaType.DockerForeignLayerGzip);
    expect(convertMediaType(MediaType.DockerForeignLayerGzip, 'oci')).toBe(MediaType.OciLayerNondistributableGzip);
  });

  test('types without an equivalent are refused', () => {
    for (const [mt, to] of [
      [MediaType.OciLayerNondistributableZstd, 'docker'],
      [MediaType.DockerSchema1SignedManifest, 'oci'],
    ] as const) {
      try {
        convertMediaType(mt, to);
        expect.unreachable();
      } catch (err) {
        expect(isCairnError(err, 'unsupported')).toBe(true);
      }
    }
  });

  test('artifact types and the empty descriptor pass through', () => {
    expect(convertMediaType(MediaType.OciEmpty, 'docker')).toBe(MediaType.OciEmpty);
    expect(convertMediaType('application/vnd.example+type', 'oci')).toBe('application/vnd.example+type');
  });

  const format = fc.constantFrom<ManifestFormat>('oci', 'docker');
  const other = (f: ManifestFormat): ManifestFormat => (f === 'oci' ? 'docker' : 'oci');
  const convertible = (mt: string, to: ManifestFormat): boolean => {
    try {
      convertMediaType(mt, to);
      return true;
    } catch {
      return false;
    }
  };
  // Known types, and arbitrary grammar-valid media types.
  const mediaType = fc.oneof(
    fc.constantFrom(...ALL),
    fc
      .tuple(fc.stringMatching(/^[a-z][a-z0-9.+-]{0,20}$/), fc.stringMatching(/^[a-z][a-z0-9.+-]{0,30}$/))
      .map(([t, s]) => `${t}/${s}`),
  );

  test('property: converting there and back returns the type in its own format', () => {
    fc.assert(
      fc.property(mediaType, format, (mt, to) => {
        // Schema 1 and OCI non-distributable zstd have no equivalent on one side.
        fc.pre(convertible(mt, 'oci') && convertible(mt, 'docker'));
        const there = convertMediaType(mt, to);
        const back = convertMediaType(there, other(to));
        // A round trip from the target format's side is the identity.
        expect(convertMediaType(back, to)).toBe(there);
        // Starting from a type of the other format (or none), we come back to where we started.
        if (mediaTypeFormat(mt) !== to) expect(back).toBe(mt);
      }),
      { numRuns: 1000 },
    );
  });

  test('property: conversion is idempotent and keeps the kind of document', () => {
    const kinds = [isManifestType, isIndexType, isConfigType, isLayerType, isNondistributableLayerType];
    fc.assert(
      fc.property(mediaType, format, (mt, to) => {
        fc.pre(convertible(mt, to));
        const there = convertMediaType(mt, to);
        expect(convertMediaType(there, to)).toBe(there);
        expect(kinds.map((k) => k(there))).toEqual(kinds.map((k) => k(mt)));
        expect(layerCompressionFromMediaType(there)).toBe(layerCompressionFromMediaType(mt));
      }),
      { numRuns: 1000 },
    );
  });
});
