// The layer index encoding: binary and JSON round trips on random entries, and what it refuses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { decodeLayerIndex } from '../../src/layer/index-table.js';
import {
  encodeLayerIndex,
  layerIndexFromJSON,
  layerIndexToJSON,
  type LayerIndex,
  type LayerIndexEntry,
} from '../../src/layer/layer-index.js';
import type { TarEntryType } from '../../src/tar/index.js';

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}` as Digest);
const name = fc.oneof(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }));
const types: TarEntryType[] = ['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo'];

const entry: fc.Arbitrary<LayerIndexEntry> = fc
  .record({
    parts: fc.array(name.filter((n) => !n.includes('/') && n !== '.' && n !== '..'), { minLength: 1, maxLength: 4 }),
    type: fc.constantFrom(...types),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.integer({ min: 0, max: 2 ** 32 }),
    gid: fc.integer({ min: 0, max: 2 ** 21 }),
    mtime: fc.integer({ min: -(2 ** 40), max: 2 ** 42 }),
    size: fc.integer({ min: 0, max: 2 ** 40 }),
    gap: fc.integer({ min: 512, max: 4096 }),
    linkname: fc.string({ maxLength: 30 }),
    dev: fc.tuple(fc.nat(4095), fc.nat(2 ** 20)),
    xattrs: fc.dictionary(fc.stringMatching(/^(user|security|trusted)\.[a-z]{1,8}$/), fc.uint8Array({ maxLength: 20 }), { maxKeys: 3 }),
    sha256: hex64,
  })
  .map((r) => {
    const e: Record<string, unknown> = {
      path: r.parts.join('/'),
      type: r.type,
      mode: r.mode,
      uid: r.uid,
      gid: r.gid,
      mtime: r.mtime,
      size: r.type === 'file' ? r.size : 0,
      offset: r.gap, // fixed up below to be increasing
    };
    if (r.type === 'file') e.sha256 = r.sha256;
    if (r.type === 'symlink' || r.type === 'hardlink') e.linkname = r.linkname;
    if (r.type === 'char' || r.type === 'block') [e.devmajor, e.devminor] = r.dev;
    if (Object.keys(r.xattrs).length > 0) e.xattrs = r.xattrs;
    return e as unknown as LayerIndexEntry;
  });

/** Offsets as a tar reader reports them: increasing, past the previous content. */
function withOffsets(entries: LayerIndexEntry[]): LayerIndexEntry[] {
  let end = 0;
  return entries.map((e) => {
    const offset = end + e.offset;
    end = offset + Math.ceil(e.size / 512) * 512;
    return { ...e, offset };
  });
}

const index: fc.Arbitrary<LayerIndex> = fc
  .record({ diffId: hex64, entries: fc.array(entry, { maxLength: 40 }), size: fc.nat() })
  .map((r) => ({ ...r, entries: withOffsets(r.entries) }));

describe('layer index encoding', () => {
  it('binary: decode(encode(x)) equals x for random indexes', () => {
    fc.assert(
      fc.property(index, (x) => {
        expect(decodeLayerIndex(encodeLayerIndex(x))).toEqual(x);
      }),
      { numRuns: 300 },
    );
  });

  it('JSON: fromJSON(toJSON(x)) equals x, through JSON.stringify', () => {
    fc.assert(
      fc.property(index, (x) => {
        const ms = { ...x, entries: x.entries.map((e) => ({ ...e, mtime: Math.max(-8.64e15, Math.min(8.64e15, e.mtime)) })) };
        expect(layerIndexFromJSON(JSON.parse(JSON.stringify(layerIndexToJSON(ms))))).toEqual(ms);
      }),
      { numRuns: 100 },
    );
  });

  it('JSON shows xattrs in base64 and mtimes in ISO 8601', () => {
    const x: LayerIndex = {
      diffId: `sha256:${'a'.repeat(64)}` as Digest,
      size: 1536,
      entries: [{ path: 'bin/ping', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 3, offset: 512, sha256: `sha256:${'b'.repeat(64)}` as Digest, xattrs: { 'security.capability': new Uint8Array([1, 2, 255]) } }],
    };
    const json = layerIndexToJSON(x);
    expect(json.entries[0]?.xattrs).toEqual({ 'security.capability': 'AQL/' });
    expect(json.entries[0]?.mtime).toBe('1970-01-01T00:00:00.000Z');
  });

  it('front-codes paths: a deep tree costs little more than its names', () => {
    const entries: LayerIndexEntry[] = Array.from({ length: 1000 }, (_, i) => ({
      path: `usr/share/locale/some-long-locale-name/LC_MESSAGES/file-${i}`,
      type: 'directory',
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: 1_700_000_000_000,
      size: 0,
      offset: 512 * (2 * i + 1),
    }));
    const bytes = encodeLayerIndex({ diffId: `sha256:${'c'.repeat(64)}` as Digest, size: 0, entries });
    expect(bytes.length).toBeLessThan(1000 * 16);
  });

  it('refuses bad magic, truncation and trailing bytes with invalid-document', () => {
    const good = encodeLayerIndex({ diffId: `sha256:${'d'.repeat(64)}` as Digest, size: 0, entries: [{ path: 'a', type: 'fifo', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, offset: 512 }] });
    for (const bad of [good.subarray(1), good.subarray(0, good.length - 1), Buffer.concat([good, Buffer.from([0])]), new Uint8Array(0)]) {
      let caught: unknown;
      try {
        decodeLayerIndex(bad);
      } catch (err) {
        caught = err;
      }
      expect(isCairnError(caught, 'invalid-document')).toBe(true);
    }
  });
});
