// A store client for the cross-process concurrency test, run as
//   node child-worker.mjs STORE WORKER COUNT SHARED_SOURCE
// against the built library (dist/). It writes COUNT small images of its own and tags each
// `worker-W/img:I`, and between them copies the shared image SHARED_SOURCE (an `oci:` name) into
// the store as `shared:wW` — every worker copies the same blobs at once. Prints one line per tag.
import { appendLayer, scratchImage, writeImage } from '../../dist/image/draft.js';
import { Store } from '../../dist/store/store.js';
import { packTar } from '../../dist/tar/index.js';
import { copy } from '../../dist/transport/open.js';

const [storeDir, worker, countText, shared] = process.argv.slice(2);
const count = Number(countText);
const epoch = new Date('2024-01-01T00:00:00Z');
const store = await Store.open(storeDir);

async function ownImage(i) {
  const body = Buffer.from(`worker ${worker} image ${i}\n`.repeat(50 + i));
  return store.ingest(async () => {
    let draft = scratchImage(epoch);
    draft = await appendLayer(
      store,
      draft,
      packTar([
        { entry: { path: `w${worker}`, type: 'directory', mtime: epoch } },
        { entry: { path: `w${worker}/file-${i}`, type: 'file', mtime: epoch }, body },
      ]),
      { compression: 'gzip' },
    );
    const descriptor = await writeImage(store, draft, { created: epoch });
    const tag = `worker-${worker}/img:${i}`;
    await store.setTag(tag, descriptor);
    return { tag, descriptor };
  });
}

for (let i = 0; i < count; i++) {
  const { tag, descriptor } = await ownImage(i);
  console.log(`tagged ${tag} ${descriptor.digest}`);
  if (i === Math.floor(count / 2)) {
    const record = await copy(shared, `shared:w${worker}`, { store });
    console.log(`tagged shared:w${worker} ${record.descriptor.digest}`);
  }
}
console.log('done');
