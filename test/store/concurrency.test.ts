// Writers in several processes at once (node scripts running the built library from dist/):
// every tag lands, every tagged image is complete and verifies, index.json stays whole, fsck is
// clean — also while this process runs gc in a loop beside them. And 20 setTag calls in one
// process at once all land.
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsck } from '../../src/store/fsck.js';
import { gc, type GcResult } from '../../src/store/gc.js';
import { Store } from '../../src/store/store.js';
import { copy } from '../../src/transport/open.js';
import { imageOf, killChildren, makeImage, removeDir, requireDist, runScript, seededStream, tempDir, type Child } from '../support/images.js';
import { buffer } from 'node:stream/consumers';

const WORKERS = 6;
const IMAGES_PER_WORKER = 4;

let dir: string;

beforeAll(() => requireDist());
beforeEach(async () => {
  dir = await tempDir('cairn-concurrency-');
});
afterEach(async () => {
  await killChildren();
  await removeDir(dir);
});

/** Every blob of the image `ref` names exists and verifies. */
async function expectComplete(store: Store, ref: string): Promise<void> {
  const entry = await store.getTag(ref);
  expect(entry, `tag ${ref}`).toBeDefined();
  const image = await imageOf(store, entry!);
  for (const digest of image.blobs) {
    expect(await store.blobs.has(digest), `${ref}: blob ${digest}`).toBe(true);
    await buffer(await store.blobs.open(digest, { verify: true }));
  }
}

describe('writers in several processes', () => {
  it(`${WORKERS} processes tag ${IMAGES_PER_WORKER} images each and copy one shared image, while gc runs here`, async () => {
    // The shared image: a few layers of a few hundred KB, in an oci: layout every worker copies from.
    const builder = await Store.open(path.join(dir, 'builder'));
    await makeImage(builder, {
      layers: [0, 1, 2].map((i) => ({ [`shared/${i}.bin`]: new Uint8Array(300_000 + i).map((_, j) => (j * 31 + i) & 0xff) })),
      tag: 'shared:1',
    });
    const layout = path.join(dir, 'layout');
    const shared = await copy('shared:1', `oci:${layout}:shared`, { store: builder });

    const storeDir = path.join(dir, 'store');
    const store = await Store.open(storeDir);
    await store.prepare();
    const children: Child[] = [];
    for (let w = 0; w < WORKERS; w++) {
      children.push(runScript('child-worker.mjs', [storeDir, String(w), String(IMAGES_PER_WORKER), `oci:${layout}:shared`]));
    }
    const exits = Promise.all(children.map((c) => c.exited));
    let running = true;
    void exits.then(() => (running = false));
    const collections: GcResult[] = [];
    while (running) {
      collections.push(await gc(store));
      await sleep(15); // flock is not fair: leave the workers a gap to take the ingest lock
    }
    const results = await exits;
    for (const [i, r] of results.entries()) expect(r, `worker ${i}: ${children[i]!.stderr()}`).toEqual({ code: 0, signal: null });
    expect(collections.length).toBeGreaterThan(0);

    // index.json parses, and holds exactly the tags written (no duplicates, nothing lost).
    JSON.parse(await readFile(path.join(storeDir, 'index.json'), 'utf8'));
    const expectedTags: string[] = [];
    for (let w = 0; w < WORKERS; w++) {
      for (let i = 0; i < IMAGES_PER_WORKER; i++) expectedTags.push(`worker-${w}/img:${i}`);
      expectedTags.push(`shared:w${w}`);
    }
    const tags = (await store.listTags()).map((t) => `${t.name}:${t.tag}`);
    expect(tags.sort()).toEqual(expectedTags.sort());

    // Each tag points at what its worker reported, and the image is complete and verifies.
    for (const [w, child] of children.entries()) {
      const reported = child.lines.filter((l) => l.startsWith('tagged '));
      expect(reported, `worker ${w}`).toHaveLength(IMAGES_PER_WORKER + 1);
      for (const line of reported) {
        const [, ref, digest] = line.split(' ');
        expect((await store.getTag(ref!))?.digest).toBe(digest);
      }
    }
    for (const ref of expectedTags) await expectComplete(store, ref);
    for (let w = 0; w < WORKERS; w++) expect((await store.getTag(`shared:w${w}`))?.digest).toBe(shared.descriptor.digest);

    expect((await fsck(store)).problems).toEqual([]);
    // Nothing unreferenced was left behind either.
    expect((await gc(store, { dryRun: true })).removed).toEqual([]);
  });
});

describe('writers in one process', () => {
  it('20 concurrent setTag calls all land', async () => {
    const store = await Store.open(dir);
    const images = await Promise.all([0, 1, 2, 3].map((i) => makeImage(store, { files: { [`f${i}`]: `image ${i}` } })));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.setTag(`many/t${i % 5}:v${i}`, images[i % images.length]!.descriptor)),
    );
    const tags = await store.listTags();
    expect(tags).toHaveLength(20);
    for (let i = 0; i < 20; i++) {
      expect((await store.getTag(`many/t${i % 5}:v${i}`))?.digest).toBe(images[i % images.length]!.descriptor.digest);
    }
    expect((await fsck(store)).problems).toEqual([]);
  });

  it('concurrent moves of one tag leave it on one of the images and the others dangling, never lost', async () => {
    const store = await Store.open(dir);
    const images = await Promise.all([0, 1, 2, 3, 4].map((i) => makeImage(store, { files: { f: `v${i}` } })));
    await Promise.all(images.map((img) => store.setTag('moving:latest', img.descriptor)));
    const entries = (await store.readIndex()).manifests;
    expect(entries).toHaveLength(5);
    expect(entries.filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] === 'moving:latest')).toHaveLength(1);
    expect(new Set(entries.map((d) => d.digest))).toEqual(new Set(images.map((i) => i.descriptor.digest)));
  });

  it('concurrent puts of the same big blob store it once, whole', async () => {
    const store = await Store.open(dir);
    await store.prepare();
    const size = 4 << 20;
    const expected = await buffer(seededStream(9, size));
    const refs = await Promise.all(Array.from({ length: 6 }, () => store.blobs.put(seededStream(9, size), { size })));
    expect(new Set(refs.map((r) => r.digest)).size).toBe(1);
    expect((await store.blobs.readBytes(refs[0]!.digest)).equals(expected)).toBe(true);
    expect((await fsck(store)).problems).toEqual([]);
  });
});
