/**
 * @module store/fsck
 * Checks a store: every blob's bytes against its digest, every index.json entry's graph (each
 * referenced blob present, each manifest, index and config valid). Problems are collected, not
 * thrown, so one run names every bad digest.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { type Digest } from '../digest/index.js';
import { DigestStream } from '../digest/stream.js';
import { isCairnError } from '../errors.js';
import { guessMediaType, isIndexType, isManifestType, validateDocument } from '../oci/index.js';
import { referencesOf } from './graph.js';
import type { Store } from './store.js';

export interface FsckProblem {
  readonly digest: Digest;
  readonly kind: 'corrupt' | 'missing' | 'invalid';
  readonly message: string;
}

export interface FsckResult {
  readonly blobsChecked: number;
  readonly bytesChecked: number;
  readonly problems: FsckProblem[];
}

export async function fsck(store: Store): Promise<FsckResult> {
  const problems: FsckProblem[] = [];
  let blobsChecked = 0;
  let bytesChecked = 0;
  for await (const digest of store.blobs.list()) {
    const hashing = new DigestStream();
    await pipeline(createReadStream(store.blobs.path(digest), { highWaterMark: 1 << 20 }), hashing, async function* (source) {
      for await (const _chunk of source) {
        // Drain: only the hash matters.
      }
    });
    blobsChecked++;
    bytesChecked += hashing.size;
    if (digest.startsWith('sha256:') && hashing.digest !== digest) {
      problems.push({ digest, kind: 'corrupt', message: `blob ${digest} is corrupt: its content hashes to ${hashing.digest}` });
    }
  }
  const corrupt = new Set(problems.map((p) => p.digest));
  const seen = new Set<Digest>();
  const queue: { digest: Digest; mediaType: string | undefined; from: string }[] = (await store.readIndex()).manifests.map((d) => ({
    digest: d.digest,
    mediaType: d.mediaType,
    from: 'index.json',
  }));
  while (queue.length > 0) {
    const item = queue.pop();
    if (!item || seen.has(item.digest)) continue;
    seen.add(item.digest);
    if (!(await store.blobs.has(item.digest))) {
      problems.push({ digest: item.digest, kind: 'missing', message: `blob ${item.digest} (referenced by ${item.from}) is missing` });
      continue;
    }
    const isDocument = isManifestType(item.mediaType) || isIndexType(item.mediaType) || item.from === 'index.json' || item.mediaType?.includes('config');
    if (!isDocument || corrupt.has(item.digest)) continue;
    let bytes: Buffer;
    try {
      // Inside the try: a "document" too big to read (an entry naming a layer) is a problem to report.
      bytes = await store.blobs.readBytes(item.digest, { verify: false });
      validateDocument(item.mediaType ?? guessMediaType(bytes) ?? '', bytes, `${item.from === 'index.json' ? 'image' : 'document'} ${item.digest}`, { allowNoLayers: true });
    } catch (err) {
      if (!isCairnError(err)) throw err;
      problems.push({ digest: item.digest, kind: 'invalid', message: err.message });
      continue;
    }
    for (const edge of referencesOf(item.digest, bytes)) {
      queue.push({ digest: edge.digest, mediaType: edge.mediaType, from: `${item.digest} ${edge.field}` });
    }
  }
  return { blobsChecked, bytesChecked, problems };
}
