// fsck: a clean store has no problems; a flipped byte, a missing blob and an invalid manifest are
// each named by digest; the CLI exits 1 printing them; `fsck --rebuild` re-derives layer records
// whose diffIDs match what gzip and sha256sum say, and flags a config whose diff_ids lie.
import { execFile } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { Digest } from '../../src/digest/index.js';
import { MediaType } from '../../src/oci/index.js';
import { fsck } from '../../src/store/fsck.js';
import { rebuildMeta } from '../../src/store/rebuild.js';
import type { Store } from '../../src/store/store.js';
import { captureIO, makeImage, removeDir, seededStream, tempStore } from '../support/images.js';

const run = promisify(execFile);
let dir: string;
let store: Store;

beforeEach(async () => ({ dir, store } = await tempStore('cairn-fsck-')));
afterEach(() => removeDir(dir));

async function flipByte(digest: Digest, offset: number): Promise<void> {
  const file = store.blobs.path(digest);
  await chmod(file, 0o644);
  const bytes = await readFile(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x01;
  await writeFile(file, bytes);
  await chmod(file, 0o444);
}

/** A manifest with a bad field (a layer size that is a string), stored and tagged. */
async function tagInvalidManifest(tag: string): Promise<Digest> {
  const good = await makeImage(store, { files: { 'ok.txt': 'fine\n' } });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: good.manifest.config,
    layers: good.manifest.layers.map((l) => ({ ...l, size: String(l.size) })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const ref = await store.ingest(async () => {
    const written = await store.blobs.put(bytes, { what: 'invalid manifest' });
    await store.setTag(tag, { mediaType: MediaType.OciManifest, digest: written.digest, size: written.size });
    return written;
  });
  return ref.digest;
}

describe('fsck', () => {
  it('finds nothing wrong in a clean store and counts every blob', async () => {
    const a = await makeImage(store, { layers: [{ 'a/1': 'one' }, { 'a/2': 'two' }], tag: 'a:1' });
    const b = await makeImage(store, { files: { 'b/1': 'bee' }, tag: 'b:1', compression: 'zstd' });
    await makeImage(store, { files: { 'c/1': 'dangling' }, tag: null });
    const result = await fsck(store);
    expect(result.problems).toEqual([]);
    expect(result.blobsChecked).toBe(new Set([...a.blobs, ...b.blobs]).size + 3);
    expect(result.bytesChecked).toBeGreaterThan(0);
  });

  it('an empty or missing store is clean', async () => {
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('a flipped byte in a layer blob is a corrupt problem naming that digest', async () => {
    const image = await makeImage(store, { layers: [{ 'x/1': 'first' }, { 'x/2': 'second' }], tag: 'x:1' });
    const layer = image.layers[1]!;
    await flipByte(layer, 20);
    const { problems } = await fsck(store);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'corrupt', digest: layer });
    expect(problems[0]!.message).toContain(layer);
  });

  it('a corrupt manifest is reported as corrupt, not followed', async () => {
    const image = await makeImage(store, { files: { f: 'x' }, tag: 'x:1' });
    await flipByte(image.descriptor.digest, 5);
    const { problems } = await fsck(store);
    expect(problems).toEqual([expect.objectContaining({ kind: 'corrupt', digest: image.descriptor.digest })]);
  });

  it('a deleted config blob is a missing problem naming it', async () => {
    const image = await makeImage(store, { files: { f: 'x' }, tag: 'x:1' });
    await rm(store.blobs.path(image.config), { force: true });
    const { problems } = await fsck(store);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'missing', digest: image.config });
    expect(problems[0]!.message).toContain(image.descriptor.digest); // who referenced it
  });

  it('an invalid manifest is an invalid problem naming it', async () => {
    const bad = await tagInvalidManifest('bad:1');
    const { problems } = await fsck(store);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: 'invalid', digest: bad });
    expect(problems[0]!.message).toContain('size');
  });

  it('an index.json entry that names a huge non-document blob is reported, not a crash', async () => {
    const size = (64 << 20) + 1;
    const big = await store.ingest(async () => {
      const ref = await store.blobs.put(seededStream(11, size), { size });
      await store.setTag('huge:1', { mediaType: MediaType.OciManifest, digest: ref.digest, size });
      return ref;
    });
    const { problems } = await fsck(store);
    expect(problems).toEqual([expect.objectContaining({ kind: 'invalid', digest: big.digest })]);
  });

  it('CLI: `fsck` exits 1 and prints each bad digest; a clean store exits 0', async () => {
    const clean = captureIO();
    await makeImage(store, { files: { ok: 'ok' }, tag: 'ok:1' });
    expect(await main(['--store', dir, 'fsck'], clean)).toBe(0);
    expect(clean.out()).toMatch(/ok/);
    expect(clean.err()).toBe('');

    const corrupt = await makeImage(store, { files: { c: 'to corrupt' }, tag: 'c:1' });
    await flipByte(corrupt.layers[0]!, 10);
    const missing = await makeImage(store, { files: { m: 'to lose' }, tag: 'm:1' });
    await rm(store.blobs.path(missing.config));
    const invalid = await tagInvalidManifest('i:1');

    const io = captureIO();
    expect(await main(['fsck', '--store', dir], io)).toBe(1);
    const err = io.err();
    for (const digest of [corrupt.layers[0]!, missing.config, invalid]) expect(err).toContain(digest);
    expect(err).toMatch(/^corrupt: /m);
    expect(err).toMatch(/^missing: /m);
    expect(err).toMatch(/^invalid: /m);
    expect(io.out()).toMatch(/3 problems/);
  });
});

describe('fsck --rebuild', () => {
  it('records one LayerRecord per layer with the diffID gzip -dc | sha256sum gives, and flags a config whose diff_ids lie', async () => {
    const honest = await makeImage(store, {
      layers: [{ 'etc/motd': 'hello\n', 'bin/tool': 'x'.repeat(5000) }, { 'srv/index.html': '<h1>hi</h1>\n' }],
      tag: 'honest:1',
    });
    const lie = `sha256:${'1'.repeat(64)}` as Digest;
    const liar = await makeImage(store, { files: { 'liar.txt': 'my config lies\n' }, tag: 'liar:1', diffIds: () => [lie] });

    // What the shell tools say about the real files.
    const shell = async (cmd: string, file: string): Promise<string> => (await run('sh', ['-c', cmd, 'sh', file])).stdout.trim();
    const expected = new Map<Digest, { diffId: string; size: number }>();
    for (const layer of [...honest.layers, ...liar.layers]) {
      const file = store.blobs.path(layer);
      const hex = (await shell('gzip -dc "$1" | sha256sum', file)).split(/\s+/)[0];
      const size = Number(await shell('gzip -dc "$1" | wc -c', file));
      expected.set(layer, { diffId: `sha256:${hex}`, size });
    }
    expect(honest.diffIds).toEqual(honest.layers.map((l) => expected.get(l)!.diffId));

    // A stale record that the rebuild must clear.
    const stale = `sha256:${'2'.repeat(64)}`;
    await store.withMeta((meta) => meta.layers.put(stale, { diffId: lie, size: 1, compression: 'none' }));

    const io = captureIO();
    expect(await main(['--store', dir, 'fsck', '--rebuild'], io)).toBe(1);
    expect(io.out()).toContain('rebuilt 3 layer records');
    expect(io.err()).toContain(liar.layers[0]!);
    expect(io.err()).toContain(lie);

    const records = await store.withMeta(async (meta) => {
      const all: Record<string, unknown> = {};
      for await (const [key, value] of meta.layers.entries()) all[key] = value;
      return all;
    });
    expect(Object.keys(records).sort()).toEqual([...expected.keys()].sort());
    for (const [layer, { diffId, size }] of expected) expect(records[layer]).toEqual({ diffId, size, compression: 'gzip' });

    // The library reports the same, naming the layer whose diffID the config misstates.
    const result = await rebuildMeta(store);
    expect(result.layers).toBe(3);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'corrupt', digest: liar.layers[0] })]);
    expect(result.problems[0]!.message).toContain(expected.get(liar.layers[0]!)!.diffId);
  });

  it('a corrupt layer blob is reported as corrupt and gets no record (its diffID would be a lie)', async () => {
    const image = await makeImage(store, { layers: [{ 'ok/f': 'fine\n' }, { 'bad/f': 'x'.repeat(4000) }], tag: 'c:1', compression: 'none' });
    await flipByte(image.layers[1]!, 1500); // inside the file content: still a valid tar
    const result = await rebuildMeta(store);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'corrupt', digest: image.layers[1] })]);
    expect(result.layers).toBe(1);
    expect(await store.withMeta((meta) => meta.layers.get(image.layers[1]!))).toBeUndefined();
    expect((await store.withMeta((meta) => meta.layers.get(image.layers[0]!)))?.diffId).toBe(image.diffIds[0]);
  });

  it('an honest store rebuilds clean and exits 0', async () => {
    await makeImage(store, { files: { a: 'a' }, tag: 'a:1', compression: 'zstd' });
    const io = captureIO();
    expect(await main(['--store', dir, 'fsck', '--rebuild'], io)).toBe(0);
    expect(io.out()).toContain('rebuilt 1 layer records');
    const record = await store.withMeta(async (meta) => {
      for await (const [, value] of meta.layers.entries()) return value;
      return undefined;
    });
    expect(record).toMatchObject({ compression: 'zstd' });
  });
});
