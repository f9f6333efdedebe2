// Property tests: random entry lists (long and unicode names, every type, modes with special
// bits, big ids, xattrs, mtimes with milliseconds and before 1970) written, then read back by our
// reader and by tar-stream (an independent parser), in random chunkings, plain and compressed.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import {
  cleanPath,
  comparePaths,
  encodeLayer,
  listTar,
  packTar,
  scanLayer,
  sortEntries,
  tarEntries,
  type Compression,
  type TarEntry,
  type TarEntryInit,
  type TarEntryType,
} from '../../src/tar/index.js';

interface Case {
  entry: TarEntryInit;
  content: Uint8Array;
}

const component = fc
  .oneof(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }))
  .map((s) => s.replace(/[/\0]/g, '_'))
  .filter((s) => s !== '.' && s !== '..' && s !== '');
/** Relative clean paths, sometimes well beyond 100 bytes. */
const pathArb = fc.array(component, { minLength: 1, maxLength: 12 }).map((parts) => parts.join('/'));
const xattrsArb = fc.dictionary(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 16 }).map((s) => `user.${s.replace(/[=\0]/g, '-')}`),
  fc.uint8Array({ maxLength: 64 }),
  { maxKeys: 3 },
);
const typeArb = fc.constantFrom<TarEntryType>('file', 'file', 'file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo');

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    path: pathArb,
    type: typeArb,
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    gid: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    mtime: fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }).map((s) => s * 1000), fc.integer({ min: -1e12, max: 1e13 })),
    content: fc.uint8Array({ maxLength: 2000 }),
    link: fc.oneof(pathArb, fc.string({ unit: 'grapheme', maxLength: 200 }).map((s) => s.replace(/\0/g, ''))),
    devmajor: fc.integer({ min: 0, max: 4095 }),
    devminor: fc.integer({ min: 0, max: 1_048_575 }),
    xattrs: xattrsArb,
  })
  .map((r) => {
    const entry: TarEntryInit = { path: r.path, type: r.type, mode: r.mode, uid: r.uid, gid: r.gid, mtime: r.mtime, xattrs: r.xattrs };
    if (r.type === 'symlink') entry.linkname = r.link;
    if (r.type === 'hardlink') entry.linkname = cleanPath(r.link) === '.' ? 'x' : r.link;
    if (r.type === 'char' || r.type === 'block') Object.assign(entry, { devmajor: r.devmajor, devminor: r.devminor });
    return { entry, content: r.type === 'file' ? r.content : new Uint8Array(0) };
  });

/** What the reader must report for an entry written from `c`. */
function expected(c: Case): Omit<TarEntry, 'offset' | 'headerOffset'> {
  const e = c.entry;
  const out: Omit<TarEntry, 'offset' | 'headerOffset'> = {
    path: cleanPath(e.path),
    type: e.type,
    mode: e.mode ?? 0,
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: new Date(e.mtime as number),
    size: c.content.length,
    xattrs: Object.fromEntries(Object.entries(e.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
  };
  if (e.type === 'symlink') out.linkname = e.linkname ?? '';
  if (e.type === 'hardlink') out.linkname = cleanPath(e.linkname ?? '');
  if (e.type === 'char' || e.type === 'block') Object.assign(out, { devmajor: e.devmajor, devminor: e.devminor });
  return out;
}

function write(cases: Case[]): Promise<Buffer> {
  return buffer(packTar(cases.map((c) => ({ entry: c.entry, ...(c.entry.type === 'file' ? { body: Buffer.from(c.content) } : {}) }))));
}

function split(bytes: Buffer, cuts: number[]): Readable {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) parts.push(bytes.subarray(at, p));
    at = p;
  }
  return Readable.from(parts);
}

const TS_TYPES: Record<string, TarEntryType> = {
  file: 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

describe('property: write → read', () => {
  it('our reader returns the same entries and content, with offsets into the archive', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), async (cases, cuts) => {
        const bytes = await write(cases);
        const got: Array<{ entry: TarEntry; content: Buffer }> = [];
        for await (const { entry, body } of tarEntries(split(bytes, cuts), { what: 'prop' })) {
          got.push({ entry, content: await buffer(body) });
        }
        expect(got.map((g) => {
          const { offset: _o, headerOffset: _h, ...rest } = g.entry;
          return rest;
        })).toEqual(cases.map(expected));
        for (const [i, g] of got.entries()) {
          expect(g.content.equals(Buffer.from(cases[i]?.content ?? []))).toBe(true);
          expect(bytes.subarray(g.entry.offset, g.entry.offset + g.entry.size).equals(g.content)).toBe(true);
        }
        expect((await write(cases)).equals(bytes)).toBe(true); // deterministic
      }),
      { numRuns: 150 },
    );
  });

  it('tar-stream, an independent parser, agrees on names, types, modes, links and content', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { maxLength: 8 }), async (cases) => {
        const bytes = await write(cases);
        const extract = tarStream.extract();
        Readable.from([bytes]).pipe(extract);
        const seen: Array<{ name: string; type: string; mode: number | undefined; linkname: string | null | undefined; content: Buffer }> = [];
        for await (const entry of extract) {
          const h = entry.header;
          seen.push({ name: h.name, type: TS_TYPES[h.type ?? ''] ?? String(h.type), mode: h.mode, linkname: h.linkname, content: await buffer(entry) });
        }
        expect(seen.map((s) => [cleanPath(s.name), s.type, s.mode, s.content.length])).toEqual(
          cases.map((c) => [cleanPath(c.entry.path), c.entry.type, c.entry.mode, c.content.length]),
        );
        for (const [i, s] of seen.entries()) {
          const c = cases[i] as Case;
          expect(s.content.equals(Buffer.from(c.content))).toBe(true);
          if (c.entry.type === 'symlink') expect(s.linkname ?? '').toBe(c.entry.linkname); // tar-stream: '' → null
          if (c.entry.type === 'hardlink') expect(s.linkname).toBe(cleanPath(c.entry.linkname ?? ''));
        }
      }),
      { numRuns: 80 },
    );
  });

  it('compressed round trip: encodeLayer digests = sha256 of the bytes; scanLayer agrees and lists the same entries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { maxLength: 6 }), fc.constantFrom<Compression>('gzip', 'zstd', 'none'), async (cases, compression) => {
        const plain = await write(cases);
        const layer = encodeLayer(Readable.from([plain]), compression);
        const blob = await buffer(layer.stream);
        const result = await layer.result();
        const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
        expect(result).toEqual({ digest: sha(blob), diffId: sha(plain), compressedSize: blob.length, size: plain.length });
        const scanned = await scanLayer(Readable.from([blob]), { what: 'prop', consume: (tar) => listTar(tar, { what: 'prop' }) });
        expect(scanned).toMatchObject({ compression, ...result });
        expect(scanned.value?.map((e) => e.path)).toEqual(cases.map((c) => cleanPath(c.entry.path)));
      }),
      { numRuns: 40 },
    );
  });
});

describe('property: sortEntries', () => {
  it('is a stable total order where every ancestor precedes its descendants', () => {
    fc.assert(
      fc.property(fc.array(pathArb, { maxLength: 30 }), (paths) => {
        const withParents = paths.flatMap((p) => p.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/')));
        const sorted = sortEntries(withParents.map((p) => ({ path: p }))).map((e) => e.path);
        for (let i = 1; i < sorted.length; i++) expect(comparePaths(sorted[i - 1] ?? '', sorted[i] ?? '')).toBeLessThanOrEqual(0);
        const firstIndex = new Map<string, number>();
        sorted.forEach((p, i) => firstIndex.has(p) || firstIndex.set(p, i));
        for (const [i, p] of sorted.entries()) {
          const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : undefined;
          if (parent !== undefined) expect(firstIndex.get(parent) ?? Infinity).toBeLessThan(i);
        }
        expect(sortEntries(sorted.map((p) => ({ path: p }))).map((e) => e.path)).toEqual(sorted);
        // Children of a directory are contiguous right after it (depth-first order). A path can
        // come more than once (two inputs share a parent): its run starts at its first copy.
        for (const [i, p] of sorted.entries()) {
          if (firstIndex.get(p) !== i) continue;
          const end = sorted.findIndex((q, j) => j > i && !(q === p || q.startsWith(`${p}/`)));
          const inside = sorted.slice(i, end === -1 ? undefined : end);
          expect(sorted.filter((q) => q === p || q.startsWith(`${p}/`))).toEqual(inside);
        }
      }),
      { numRuns: 200 },
    );
  });
});
