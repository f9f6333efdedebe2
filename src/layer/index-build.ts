/**
 * @module layer/index-build
 * Builds a layer index (design §3) in ONE streaming pass over the blob: the same pass computes
 * the blob digest, decompresses, computes the diffID, parses the tar and hashes every file body
 * as it streams by (`scanLayer` + `tarEntries`). Nothing is buffered beyond stream chunks, and
 * nothing is hashed twice.
 *
 * The pass also checks what the caller expects: the blob digest (the descriptor) and the diffID
 * (the config's `rootfs.diff_ids`). Copying an image into the store checks only compressed
 * digests, like skopeo; this is where a config that lies about its diffIDs is caught.
 *
 * A `tap` sees every uncompressed byte in order during the pass, so the seekable content cache
 * (`./random-access.ts`) can be written by the same decompression.
 */
import type { Readable } from 'node:stream';
import { nodeSha256, type Digest, type HasherFactory } from '../digest/index.js';
import { CairnError } from '../errors.js';
import { scanLayer, tarEntries, type LayerDigests, type TarEntry } from '../tar/index.js';
import type { LayerIndex, LayerIndexEntry } from './layer-index.js';

export interface BuildLayerIndexOptions {
  /** Names the layer in errors ("layer sha256:…"). */
  what: string;
  /** Hash implementation for digests and file contents; default node:crypto. */
  hasher?: HasherFactory;
  /** The blob digest the bytes must have (the descriptor's). */
  expectedDigest?: Digest;
  /** The diffID the uncompressed tar must have (the config's). */
  expectedDiffId?: Digest;
  /** Sees each uncompressed chunk in order; the pass waits for it (backpressure). */
  tap?: (chunk: Uint8Array) => void | Promise<void>;
}

export interface BuiltLayerIndex extends LayerDigests {
  readonly index: LayerIndex;
}

/**
 * Reads a layer blob (gzip, zstd or plain tar) once and returns its index and digests.
 * Fails with 'digest-mismatch' when an expected digest is not met (nothing is returned then).
 *
 * @example
 * const { index, diffId } = await buildLayerIndex(await store.blobs.open(desc.digest), {
 *   what: `layer ${desc.digest}`, expectedDigest: desc.digest, expectedDiffId: config.rootfs.diff_ids[i],
 * });
 */
export async function buildLayerIndex(blob: Readable, options: BuildLayerIndexOptions): Promise<BuiltLayerIndex> {
  const factory = options.hasher ?? nodeSha256;
  const { what, tap } = options;
  const scanned = await scanLayer(blob, {
    what,
    hasher: factory,
    consume: async (tar) => {
      const entries: LayerIndexEntry[] = [];
      const source = tap ? tapped(tar, tap) : tar;
      for await (const { entry, body } of tarEntries(source, { what })) {
        let sha256: Digest | undefined;
        if (entry.type === 'file') {
          const hasher = factory();
          for await (const chunk of body as AsyncIterable<Uint8Array>) hasher.update(chunk);
          sha256 = hasher.digest();
        }
        entries.push(indexEntry(entry, sha256));
      }
      return entries;
    },
  });
  const { value, ...digests } = scanned;
  if (options.expectedDigest !== undefined && digests.digest !== options.expectedDigest) {
    throw new CairnError('digest-mismatch', `${what}: the blob hashes to ${digests.digest}, not ${options.expectedDigest}`, {
      what,
      expected: options.expectedDigest,
      actual: digests.digest,
    });
  }
  if (options.expectedDiffId !== undefined && digests.diffId !== options.expectedDiffId) {
    throw new CairnError(
      'digest-mismatch',
      `${what}: its uncompressed content has diffID ${digests.diffId}, but the image config says ${options.expectedDiffId}`,
      { what, expected: options.expectedDiffId, actual: digests.diffId },
    );
  }
  return { ...digests, index: { diffId: digests.diffId, size: digests.size, entries: value ?? [] } };
}

async function* tapped(
  source: AsyncIterable<Uint8Array>,
  tap: (chunk: Uint8Array) => void | Promise<void>,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    await tap(chunk);
    yield chunk;
  }
}

function indexEntry(entry: TarEntry, sha256: Digest | undefined): LayerIndexEntry {
  const out: { -readonly [K in keyof LayerIndexEntry]: LayerIndexEntry[K] } = {
    path: entry.path,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtime: entry.mtime.getTime(),
    size: entry.size,
    offset: entry.offset,
  };
  if (entry.linkname !== undefined) out.linkname = entry.linkname;
  if (entry.devmajor !== undefined) out.devmajor = entry.devmajor;
  if (entry.devminor !== undefined) out.devminor = entry.devminor;
  if (Object.keys(entry.xattrs).length > 0) out.xattrs = entry.xattrs;
  if (sha256 !== undefined) out.sha256 = sha256;
  return out;
}
