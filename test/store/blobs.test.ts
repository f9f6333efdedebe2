// BlobStore: the ingest contract (temp → hash → fsync → check → rename, read-only), "already
// exists" without reading the source, verification on read, list and delete.
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, type Digest } from '../../src/digest/index.js';
import { CairnError, isCairnError } from '../../src/errors.js';
import { Store } from '../../src/store/store.js';
import { dirEntries, listBlobs, removeDir, seededStream, tempStore } from '../support/images.js';
import { failure } from '../support/errors.js';

let dir: string;
let store: Store;

beforeEach(async () => ({ dir, store } = await tempStore('cairn-blobs-', { prepare: true })));
afterEach(() => removeDir(dir));


const sha = (bytes: Uint8Array): Digest => digestOf(bytes);
const FAKE = `sha256:${'ab'.repeat(32)}` as Digest;

/** Flips one byte of a blob in place (blobs are 0444: make it writable first). */
async function flipByte(file: string, offset: number): Promise<void> {
  await chmod(file, 0o644);
  const bytes = await readFile(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
  await writeFile(file, bytes);
  await chmod(file, 0o444);
}

/** A stream source that fails the test if anything reads it. */
function untouchable(): Readable & { wasRead: () => boolean } {
  let read = false;
  const stream = new Readable({
    read() {
      read = true;
      throw new Error('the source of an existing blob must not be read');
    },
  });
  return Object.assign(stream, { wasRead: () => read });
}

describe('put', () => {
  it('stores bytes under their sha256, read-only (0444), and reads them back', async () => {
    const bytes = Buffer.from('hello, cairn\n');
    const ref = await store.blobs.put(bytes);
    expect(ref).toEqual({ digest: sha(bytes), size: bytes.length });
    const file = store.blobs.path(ref.digest);
    expect(file).toBe(path.join(dir, 'blobs', 'sha256', createHash('sha256').update(bytes).digest('hex')));
    expect(await readFile(file)).toEqual(bytes);
    expect((await stat(file)).mode & 0o777).toBe(0o444);
    expect(await store.blobs.stat(ref.digest)).toBe(bytes.length);
    expect(await store.blobs.has(ref.digest)).toBe(true);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('stores a stream (several chunks) with its expected digest and size', async () => {
    const size = 3 * (1 << 20) + 17;
    const expected = await buffer(seededStream(7, size));
    const ref = await store.blobs.put(seededStream(7, size), { digest: sha(expected), size, what: 'big stream' });
    expect(ref).toEqual({ digest: sha(expected), size });
    expect((await stat(store.blobs.path(ref.digest))).mode & 0o777).toBe(0o444);
    // (Buffer.equals: vitest's deep equality walks a 3 MB buffer byte by byte, for seconds.)
    expect((await buffer(await store.blobs.open(ref.digest, { verify: true }))).equals(expected)).toBe(true);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('stores a stream without an expected digest under what it hashes to', async () => {
    const parts = [Buffer.from('one '), Buffer.from('two '), Buffer.from('three')];
    const ref = await store.blobs.put(Readable.from(parts));
    expect(ref.digest).toBe(sha(Buffer.concat(parts)));
    expect(ref.size).toBe(13);
  });

  it.each([
    ['bytes', (b: Buffer): Buffer | Readable => b],
    ['a stream', (b: Buffer): Buffer | Readable => Readable.from([b.subarray(0, 3), b.subarray(3)])],
  ])('refuses %s that do not match the expected digest: digest-mismatch naming what and the digest, nothing stored', async (_kind, source) => {
    const bytes = Buffer.from('not what you asked for');
    const err = await failure(store.blobs.put(source(bytes), { digest: FAKE, size: bytes.length, what: 'layer 2 of oci:/x:1' }));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain('layer 2 of oci:/x:1');
    expect(err.message).toContain(FAKE);
    expect(err.data).toMatchObject({ what: 'layer 2 of oci:/x:1', expected: FAKE, actual: sha(bytes) });
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(path.join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it.each([
    ['longer', 'x'.repeat(100), 10],
    ['shorter', 'x'.repeat(10), 100],
  ])('refuses a stream %s than its expected size: size-mismatch, nothing stored', async (_kind, text, size) => {
    const bytes = Buffer.from(text);
    const err = await failure(store.blobs.put(Readable.from([bytes]), { digest: sha(bytes), size, what: 'the blob' }));
    expect(err.code).toBe('size-mismatch');
    expect(err.message).toContain('the blob');
    expect(err.data).toMatchObject({ what: 'the blob', expected: size });
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('refuses bytes of the wrong size too', async () => {
    const bytes = Buffer.from('twelve bytes');
    const err = await failure(store.blobs.put(bytes, { digest: sha(bytes), size: 11 }));
    expect(err.code).toBe('size-mismatch');
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('a source stream that fails leaves nothing behind', async () => {
    // Fails once the put is reading it (not after a fixed delay: on a loaded machine that can
    // come before the put has attached to the stream, and the error would go unhandled).
    const source = new Readable({ read() {} });
    source.push(Buffer.from('partial'));
    source.once('resume', () => setImmediate(() => source.destroy(new Error('network went away'))));
    await expect(store.blobs.put(source, { digest: FAKE, size: 100 })).rejects.toThrow('network went away');
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('does not read the source of a blob it already has', async () => {
    const bytes = Buffer.from('already here');
    const ref = await store.blobs.put(bytes);
    const source = untouchable();
    expect(await store.blobs.put(source, { digest: ref.digest, size: ref.size })).toEqual(ref);
    expect(source.wasRead()).toBe(false);
    expect(source.destroyed).toBe(true);
    // Without a size too.
    const again = untouchable();
    expect(await store.blobs.put(again, { digest: ref.digest })).toEqual(ref);
    expect(again.wasRead()).toBe(false);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('bytes already stored are not written again: nothing staged, the blob file left as it is', async () => {
    const bytes = Buffer.from('stored once');
    const ref = await store.blobs.put(bytes);
    const before = await stat(store.blobs.path(ref.digest));
    const staged = await store.blobs.stage(bytes);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
    await staged.commit();
    expect((await stat(store.blobs.path(ref.digest))).ino).toBe(before.ino);
  });

  it('putting the same bytes twice keeps one blob', async () => {
    const bytes = Buffer.from('twice');
    const a = await store.blobs.put(bytes);
    const b = await store.blobs.put(Readable.from([bytes]));
    expect(b).toEqual(a);
    expect(await listBlobs(store)).toEqual([a.digest]);
  });
});

describe('stage', () => {
  it('a staged blob is invisible until commit; commit and discard are idempotent', async () => {
    const bytes = Buffer.from('staged');
    const staged = await store.blobs.stage(Readable.from([bytes]), { digest: sha(bytes), size: bytes.length });
    expect(staged.digest).toBe(sha(bytes));
    expect(await store.blobs.has(staged.digest)).toBe(false);
    expect((await dirEntries(store.paths.tmp)).length).toBe(1);
    await staged.commit();
    await staged.commit();
    await staged.discard();
    expect(await store.blobs.has(staged.digest)).toBe(true);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('discard leaves nothing, neither blob nor staging file', async () => {
    const staged = await store.blobs.stage(Buffer.from('dropped'));
    await staged.discard();
    await staged.commit(); // no-op after discard
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });
});

describe('batch', () => {
  it('blobs put into a batch are verified at once but visible only after commit, all of them', async () => {
    const a = Buffer.from('layer bytes');
    const b = Buffer.from('{"config":true}');
    const batch = store.blobs.batch();
    expect(await batch.put(Readable.from([a]), { digest: sha(a) })).toEqual({ digest: sha(a), size: a.length });
    expect(await batch.put(b)).toEqual({ digest: sha(b), size: b.length });
    expect(await listBlobs(store)).toEqual([]);
    expect((await dirEntries(store.paths.tmp)).length).toBe(2);
    await batch.commit();
    expect((await listBlobs(store)).sort()).toEqual([sha(a), sha(b)].sort());
    expect((await stat(store.blobs.path(sha(a)))).mode & 0o777).toBe(0o444);
    expect(await readFile(store.blobs.path(sha(b)))).toEqual(b);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });

  it('a blob the store holds goes into a batch as it is, beside new ones', async () => {
    const old = Buffer.from('already here');
    const fresh = Buffer.from('new');
    await store.blobs.put(old);
    const before = await stat(store.blobs.path(sha(old)));
    const batch = store.blobs.batch();
    await batch.put(old);
    await batch.put(fresh);
    expect((await dirEntries(store.paths.tmp)).length).toBe(1);
    await batch.commit();
    expect((await listBlobs(store)).sort()).toEqual([sha(old), sha(fresh)].sort());
    expect((await stat(store.blobs.path(sha(old)))).ino).toBe(before.ino);
  });

  it('a commit waits for every blob and fails when one cannot be put in place, leaving no staging file', async () => {
    const batch = store.blobs.batch();
    await batch.put(Buffer.from('fine'));
    await batch.put(Buffer.from('doomed'));
    // One staging file vanishes behind the batch's back.
    const [gone] = await dirEntries(store.paths.tmp);
    await rm(path.join(store.paths.tmp, gone ?? 'missing'));
    const err = await batch.commit().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as NodeJS.ErrnoException | undefined)?.code).toBe('ENOENT');
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
    // The other one is in place (unreferenced, as after any failed operation: gc's to sweep).
    expect((await listBlobs(store)).length).toBe(1);
  });

  it('a wrong digest fails its put at once; discard leaves nothing of the rest', async () => {
    const batch = store.blobs.batch();
    await batch.put(Buffer.from('kept for now'));
    const err = await failure(batch.put(Readable.from([Buffer.from('liar')]), { digest: FAKE }));
    expect(err.code).toBe('digest-mismatch');
    await batch.discard();
    expect(await listBlobs(store)).toEqual([]);
    expect(await dirEntries(store.paths.tmp)).toEqual([]);
  });
});

describe('setTag with renameAfter', () => {
  const descriptor = (bytes: Buffer) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(bytes), size: bytes.length });

  it('the tag lands once what it waits for is in; a failure leaves index.json as it was and no temp file', async () => {
    const bytes = Buffer.from('{"a manifest":1}');
    const batch = store.blobs.batch();
    await batch.put(bytes);
    await store.setTag('img:1', descriptor(bytes), { renameAfter: batch.commit() });
    expect(await store.blobs.has(sha(bytes))).toBe(true);
    expect((await store.getTag('img:1'))?.digest).toBe(sha(bytes));

    const before = await readFile(path.join(store.root, 'index.json'), 'utf8');
    const other = Buffer.from('{"another":2}');
    const err = await failure(store.setTag('img:2', descriptor(other), { renameAfter: Promise.reject(new CairnError('digest-mismatch', 'bad blob')) }));
    expect(err.code).toBe('digest-mismatch');
    expect(await readFile(path.join(store.root, 'index.json'), 'utf8')).toBe(before);
    expect((await readdir(store.root)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('read', () => {
  it('open with verify passes every byte and then fails at the end of a corrupted blob', async () => {
    const size = 2 * (1 << 20) + 5;
    const ref = await store.blobs.put(seededStream(3, size));
    await flipByte(store.blobs.path(ref.digest), size - 100);

    // Without verify the (wrong) bytes come through silently.
    expect((await buffer(await store.blobs.open(ref.digest))).length).toBe(size);

    const stream = await store.blobs.open(ref.digest, { verify: true });
    let received = 0;
    const err = await new Promise<unknown>((resolve) => {
      stream.on('data', (chunk: Buffer) => (received += chunk.length));
      stream.on('error', resolve);
      stream.on('end', () => resolve(undefined));
    });
    expect(isCairnError(err, 'digest-mismatch')).toBe(true);
    expect((err as CairnError).message).toContain(ref.digest);
    expect(received).toBe(size); // the error comes at the end, after all bytes
  });

  it('a read error reaches the consumer of a verifying stream (not swallowed by pipe)', async () => {
    // A directory where the blob should be: stat works, reading fails with EISDIR.
    await mkdir(store.blobs.path(FAKE), { recursive: true });
    const stream = await store.blobs.open(FAKE, { verify: true });
    await expect(buffer(stream)).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('a verifying stream the consumer abandons closes its file', async () => {
    const ref = await store.blobs.put(seededStream(4, 4 << 20));
    const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const before = await openFds();
    for (let i = 0; i < 20; i++) {
      const stream = await store.blobs.open(ref.digest, { verify: true });
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      stream.destroy();
    }
    await sleep(200);
    expect(await openFds()).toBeLessThanOrEqual(before + 2);
  });

  it('open with verify on a good blob ends cleanly', async () => {
    const ref = await store.blobs.put(Buffer.from('good'));
    expect((await buffer(await store.blobs.open(ref.digest, { verify: true }))).toString()).toBe('good');
  });

  it('readBytes verifies by default', async () => {
    const bytes = Buffer.from('{"a":1}');
    const ref = await store.blobs.put(bytes);
    expect(await store.blobs.readBytes(ref.digest)).toEqual(bytes);
    await flipByte(store.blobs.path(ref.digest), 2);
    const err = await failure(store.blobs.readBytes(ref.digest));
    expect(err.code).toBe('digest-mismatch');
    expect(err.message).toContain(ref.digest);
    expect((await store.blobs.readBytes(ref.digest, { verify: false })).length).toBe(bytes.length);
  });

  it('readBytes refuses blobs over maxSize', async () => {
    const ref = await store.blobs.put(Buffer.alloc(1000, 1));
    expect((await failure(store.blobs.readBytes(ref.digest, { maxSize: 999 }))).code).toBe('invalid-argument');
  });

  it('missing blobs are not-found naming the digest', async () => {
    expect(await store.blobs.stat(FAKE)).toBeUndefined();
    expect(await store.blobs.has(FAKE)).toBe(false);
    for (const attempt of [() => store.blobs.open(FAKE), () => store.blobs.readBytes(FAKE)]) {
      const err = await failure(attempt());
      expect(err.code).toBe('not-found');
      expect(err.message).toContain(FAKE);
    }
  });
});

describe('list and delete', () => {
  it('lists every blob in digest order, skips stray names, and deletes', async () => {
    const refs = await Promise.all(['a', 'b', 'c', 'd'].map((s) => store.blobs.put(Buffer.from(s))));
    await writeFile(path.join(dir, 'blobs', 'sha256', 'not-a-digest'), 'x');
    const sorted = refs.map((r) => r.digest).sort();
    expect(await listBlobs(store)).toEqual(sorted);

    expect(await store.blobs.delete(sorted[1]!)).toBe(true);
    expect(await store.blobs.delete(sorted[1]!)).toBe(false);
    expect(await store.blobs.has(sorted[1]!)).toBe(false);
    expect(await listBlobs(store)).toEqual([sorted[0], sorted[2], sorted[3]]);
  });

  it('an empty or missing store lists nothing', async () => {
    expect(await listBlobs(store)).toEqual([]);
    const missing = await Store.open(path.join(dir, 'nowhere'));
    expect(await listBlobs(missing)).toEqual([]);
  });
});
