// Building a layer index in one pass: entries, offsets and content digests against the bytes
// themselves (and GNU tar's listing), digests against sha256sum, diffID checks, and the
// size/time of a Debian index.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile, link, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/index.js';
import { isCairnError } from '../../src/errors.js';
import { buildLayerIndex } from '../../src/layer/index-build.js';
import { decodeLayerIndex } from '../../src/layer/index-table.js';
import { encodeLayerIndex } from '../../src/layer/layer-index.js';
import { parseManifest } from '../../src/oci/index.js';
import { encodeLayer, listTar, packTar, type Compression } from '../../src/tar/index.js';
import { fixture } from '../support/fixtures.js';
import { dir, file, hardlink, symlink as sym } from '../union/layers.js';

const run = promisify(execFile);
const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cairn-index-build-'));
  const tree = path.join(work, 'tree');
  await mkdir(path.join(tree, 'usr/bin'), { recursive: true });
  await writeFile(path.join(tree, 'usr/bin/tool'), Buffer.alloc(70_000, 7));
  await writeFile(path.join(tree, 'empty'), '');
  await writeFile(path.join(tree, 'words'), Array.from({ length: 5000 }, (_, i) => `w${i}\n`).join(''));
  await link(path.join(tree, 'words'), path.join(tree, 'words.hard'));
  await symlink('usr/bin', path.join(tree, 'bin'));
  await mkdir(path.join(tree, `${'long-name-'.repeat(12)}dir`));
  await writeFile(path.join(tree, `${'long-name-'.repeat(12)}dir`, 'f'), 'x');
  await run('tar', ['--format=pax', '--sort=name', '-C', tree, '-cf', path.join(work, 'layer.tar'), '.']);
  await run('sh', ['-c', `gzip -c ${work}/layer.tar > ${work}/layer.tar.gz`]);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('buildLayerIndex', () => {
  it('lists what GNU tar wrote, with content offsets and digests that match the bytes', async () => {
    const tar = await readFile(path.join(work, 'layer.tar'));
    const built = await buildLayerIndex(createReadStream(path.join(work, 'layer.tar.gz')), { what: 'test' });
    const listed = await listTar(Readable.from([tar]), { what: 'test' });
    expect(built.index.entries.map((e) => [e.path, e.type, e.size, e.offset, e.linkname])).toEqual(
      listed.map((e) => [e.path, e.type, e.size, e.offset, e.linkname]),
    );
    for (const e of built.index.entries) {
      if (e.type !== 'file') expect(e.sha256).toBeUndefined();
      else expect(e.sha256).toBe(sha(tar.subarray(e.offset, e.offset + e.size)));
    }
    expect(built.index.entries.find((e) => e.path === 'words.hard')).toMatchObject({ type: 'hardlink', linkname: 'words' });
    expect(built.index.entries.find((e) => e.path === 'bin')).toMatchObject({ type: 'symlink', linkname: 'usr/bin' });
    expect(built.index.size).toBe(tar.length);
    expect(built.diffId).toBe(sha(tar));
    expect(built.index.diffId).toBe(sha(tar));
    expect(built.digest).toBe(sha(await readFile(path.join(work, 'layer.tar.gz'))));
  });

  for (const compression of ['none', 'gzip', 'zstd'] as Compression[]) {
    it(`${compression}: the index survives encoding, with xattrs and devices`, async () => {
      const items = [
        dir('etc'),
        file('etc/hosts', '127.0.0.1 localhost\n', { xattrs: { 'user.note': Buffer.from([0, 1, 2]) } }),
        { entry: { path: 'dev/null', type: 'char' as const, devmajor: 1, devminor: 3 } },
        sym('etc/localtime', '/usr/share/zoneinfo/UTC'),
        hardlink('etc/hosts.bak', 'etc/hosts'),
        file('etc/.wh.gone'),
      ];
      const layer = encodeLayer(packTar(items), compression);
      const blob = await buffer(layer.stream);
      const digests = await layer.result();
      const built = await buildLayerIndex(Readable.from([blob]), { what: 'test', expectedDigest: digests.digest, expectedDiffId: digests.diffId });
      expect(built.compression).toBe(compression);
      const decoded = decodeLayerIndex(encodeLayerIndex(built.index));
      expect(decoded.entries.map((e) => ({ ...e, xattrs: e.xattrs && Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, [...v]])) }))).toEqual(
        built.index.entries.map((e) => ({ ...e, xattrs: e.xattrs && Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, [...v]])) })),
      );
      expect(decoded.entries[2]).toMatchObject({ path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 });
      expect(decoded.entries[1]?.xattrs?.['user.note']).toEqual(new Uint8Array([0, 1, 2]));
    });
  }

  it('fails with digest-mismatch when the diffID or the blob digest is not the expected one', async () => {
    const blob = await readFile(path.join(work, 'layer.tar.gz'));
    const wrong = `sha256:${'0'.repeat(64)}` as Digest;
    for (const options of [{ expectedDiffId: wrong }, { expectedDigest: wrong }]) {
      const err = await buildLayerIndex(Readable.from([blob]), { what: 'layer x', ...options }).catch((e: unknown) => e);
      expect(isCairnError(err, 'digest-mismatch')).toBe(true);
      expect((err as Error).message).toContain('layer x');
    }
  });

  it('the tap sees every uncompressed byte, in order', async () => {
    const seen: Buffer[] = [];
    const built = await buildLayerIndex(createReadStream(path.join(work, 'layer.tar.gz')), { what: 't', tap: (c) => void seen.push(Buffer.from(c)) });
    expect(sha(Buffer.concat(seen))).toBe(built.diffId);
  });
});

describe('the Debian layer (CAIRN_FIXTURES_DEBIAN=1)', () => {
  it('indexes ~6,700 entries in one pass; reports encoded size and time', async (ctx) => {
    const image = fixture('debian/oci-umoci:bookworm', ctx);
    const manifest = parseManifest(await readFile(path.join(image.path, 'blobs/sha256', (image.manifestDigest ?? '').slice(7))), 'manifest');
    const layer = manifest.layers[0];
    if (!layer) throw new Error('no layer');
    const blobPath = path.join(image.path, 'blobs/sha256', layer.digest.slice(7));
    const started = performance.now();
    const built = await buildLayerIndex(createReadStream(blobPath, { highWaterMark: 1 << 20 }), {
      what: layer.digest,
      expectedDigest: layer.digest,
      expectedDiffId: image.diffIds[0] as Digest,
    });
    const buildMs = performance.now() - started;
    const t0 = performance.now();
    const bytes = encodeLayerIndex(built.index);
    const encodeMs = performance.now() - t0;
    const t1 = performance.now();
    const decoded = decodeLayerIndex(bytes);
    const decodeMs = performance.now() - t1;
    const json = JSON.stringify(built.index).length;
    console.log(
      `debian index: ${built.index.entries.length} entries, ${built.size} bytes uncompressed, ${layer.size} compressed; ` +
        `build ${buildMs.toFixed(0)} ms; encoded ${bytes.length} bytes (${(bytes.length / built.index.entries.length).toFixed(1)} B/entry, ` +
        `JSON ${json}); encode ${encodeMs.toFixed(1)} ms, decode ${decodeMs.toFixed(1)} ms`,
    );
    expect(decoded.entries.length).toBe(built.index.entries.length);
    expect(built.index.entries.length).toBeGreaterThan(5000);
    expect(bytes.length / built.index.entries.length).toBeLessThan(100);
  });
});
