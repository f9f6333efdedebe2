/**
 * A source that lies adds nothing: a layer whose bytes do not match its descriptor, a manifest
 * that does not match its digest, a missing blob — each copy fails naming the digest, and the
 * store is exactly as before (no tag, no new blob, nothing left in cairn/tmp).
 */
import { chmod, cp, mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { fsck } from '../../src/store/fsck.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { fixture, skipWithoutFixtures } from '../support/fixtures.js';

async function listBlobs(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const digest of store.blobs.list()) out.push(digest);
  return out;
}

describe.skipIf(skipWithoutFixtures('busybox/oci-umoci:3', 'busybox/oci-umoci:1'))('copy from a bad source', () => {
  let dir: string;
  let layout: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-faults-'));
    layout = path.join(dir, 'layout');
    await cp(fixture('busybox/oci-umoci:3').path, layout, { recursive: true });
    store = await Store.open(path.join(dir, 'store'));
    // The store already holds another image, which must stay intact.
    await copy(`oci:${fixture('busybox/oci-umoci:1').path}:1`, 'keep:1', { store });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function expectUnchanged(before: { blobs: string[]; index: string }): Promise<void> {
    expect(await listBlobs(store)).toEqual(before.blobs);
    expect(await readFile(store.paths.index, 'utf8')).toBe(before.index);
    expect(await readdir(store.paths.tmp)).toEqual([]);
    expect((await fsck(store)).problems).toEqual([]);
  }

  async function corrupt(digest: string, change: (bytes: Buffer) => Buffer): Promise<void> {
    const file = path.join(layout, 'blobs', 'sha256', digest.slice(7));
    await chmod(file, 0o644);
    await writeFile(file, change(await readFile(file)));
  }

  it('fails on a layer whose bytes do not match, naming the digest, adding nothing', async () => {
    const before = { blobs: await listBlobs(store), index: await readFile(store.paths.index, 'utf8') };
    const top = fixture('busybox/oci-umoci:3').layers.at(-1) as string;
    await corrupt(top, (b) => {
      const c = Buffer.from(b);
      c[c.length - 10] = (c[c.length - 10] ?? 0) ^ 0xff;
      return c;
    });
    const err = await copy(`oci:${layout}:3`, 'bad:3', { store }).catch((e: unknown) => e);
    expect(isCairnError(err, 'digest-mismatch')).toBe(true);
    expect((err as Error).message).toContain(top);
    await expectUnchanged(before);
  });

  it('fails on a truncated layer with a size mismatch, adding nothing', async () => {
    const before = { blobs: await listBlobs(store), index: await readFile(store.paths.index, 'utf8') };
    // Not the bottom layer: the store has that one already (from keep:1), so it is never read.
    const bottom = fixture('busybox/oci-umoci:3').layers[1] as string;
    await corrupt(bottom, (b) => b.subarray(0, b.length - 100));
    const err = await copy(`oci:${layout}:3`, 'bad:3', { store }).catch((e: unknown) => e);
    expect(isCairnError(err, 'size-mismatch')).toBe(true);
    expect((err as Error).message).toContain(bottom);
    await expectUnchanged(before);
  });

  it('fails on a manifest that does not match its digest, and on a missing config', async () => {
    const before = { blobs: await listBlobs(store), index: await readFile(store.paths.index, 'utf8') };
    const image = fixture('busybox/oci-umoci:3');
    await corrupt(image.manifestDigest as string, (b) => Buffer.from(b.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2')));
    const err = await copy(`oci:${layout}:3`, 'bad:3', { store }).catch((e: unknown) => e);
    expect(isCairnError(err, 'digest-mismatch')).toBe(true);
    expect((err as Error).message).toContain(image.manifestDigest);
    await expectUnchanged(before);

    await cp(fixture('busybox/oci-umoci:3').path, layout, { recursive: true, force: true });
    await rm(path.join(layout, 'blobs', 'sha256', (image.configDigest as string).slice(7)), { force: true });
    const missing = await copy(`oci:${layout}:3`, 'bad:3', { store }).catch((e: unknown) => e);
    expect(isCairnError(missing, 'not-found')).toBe(true);
    expect((missing as Error).message).toContain(image.configDigest);
    await expectUnchanged(before);
  });
});
