/**
 * @module store/rebuild
 * `fsck --rebuild`: re-derives the layer records in meta from the blobs. Each layer blob of each
 * image is decompressed once; its diffID is checked against the image config's `rootfs.diff_ids`
 * (copying into the store checks only compressed digests, as skopeo does, so this is where a
 * lying config is caught).
 *
 * Layer indexes (design §3, files: `./layer-indexes.ts`) are derived too: they are cleared with
 * every derived section of meta, and when a `scanner` that also indexes is given
 * (`indexingScanner` from `src/layer/index-store.ts`, which builds the index in the same single
 * pass), the indexes are written back. The scanner is
 * injected because `store` sits below `layer` (design §9) and must not import it; without one
 * only records are rebuilt and indexes are built again on first use.
 */
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.js';
import { isCairnError } from '../errors.js';
import { isIndexType, parseConfig, parseIndex, parseManifest } from '../oci/index.js';
import { digestLayer } from '../tar/index.js';
import type { FsckProblem } from './fsck.js';
import type { LayerRecord } from './meta.js';
import type { Store } from './store.js';

export interface RebuildResult {
  readonly layers: number;
  /** Layer indexes written back (0 without an indexing scanner). */
  readonly indexes: number;
  readonly problems: FsckProblem[];
}

/** What one pass over a layer blob yields: its record and, optionally, its encoded index. */
export interface ScannedLayer {
  readonly record: LayerRecord;
  /** The blob's digest as hashed in the same pass; when given, a mismatch is reported as corruption. */
  readonly digest?: Digest;
  /** `encodeLayerIndex` output, stored under the record's diffID. */
  readonly index?: Uint8Array;
}

/** Reads a layer blob once (`what` names it in errors). */
export type LayerScanner = (blob: Readable, what: string) => Promise<ScannedLayer>;

/** Records only: digest and diffID from one pass. */
export const recordScanner: LayerScanner = async (blob, what) => {
  const scanned = await digestLayer(blob, { what });
  return { record: { diffId: scanned.diffId, size: scanned.size, compression: scanned.compression }, digest: scanned.digest };
};

export interface RebuildOptions {
  /** Default `recordScanner`; pass `indexingScanner` (src/layer/index-store.ts) to rebuild indexes too. */
  readonly scanner?: LayerScanner;
}

export async function rebuildMeta(store: Store, options: RebuildOptions = {}): Promise<RebuildResult> {
  const scanner = options.scanner ?? recordScanner;
  const problems: FsckProblem[] = [];
  const records = new Map<Digest, LayerRecord>();
  const indexes = new Map<Digest, Uint8Array>();
  const manifests: Digest[] = [];
  for (const entry of (await store.readIndex()).manifests) {
    if (isIndexType(entry.mediaType)) {
      const index = parseIndex(await store.blobs.readBytes(entry.digest), `index ${entry.digest}`);
      manifests.push(...index.manifests.map((m) => m.digest));
    } else manifests.push(entry.digest);
  }
  for (const digest of new Set(manifests)) {
    try {
      const manifest = parseManifest(await store.blobs.readBytes(digest), `manifest ${digest}`);
      const config = parseConfig(await store.blobs.readBytes(manifest.config.digest), `config ${manifest.config.digest}`);
      for (const [i, layer] of manifest.layers.entries()) {
        let record = records.get(layer.digest);
        if (!record) {
          const what = `layer ${layer.digest}`;
          const scanned = await scanner(await store.blobs.open(layer.digest), what);
          if (scanned.digest !== undefined && scanned.digest !== layer.digest) {
            // Never record what a corrupt blob decompresses to as the layer's diffID.
            problems.push({ digest: layer.digest, kind: 'corrupt', message: `blob ${layer.digest} is corrupt: its content hashes to ${scanned.digest}` });
            continue;
          }
          record = scanned.record;
          records.set(layer.digest, record);
          if (scanned.index) indexes.set(record.diffId, scanned.index);
        }
        const expected = config.rootfs.diff_ids[i];
        if (expected !== record.diffId) {
          problems.push({
            digest: layer.digest,
            kind: 'corrupt',
            message: `layer ${layer.digest} of manifest ${digest} has diffID ${record.diffId}, but the config says ${expected ?? '(none)'}`,
          });
        }
      }
    } catch (err) {
      if (!isCairnError(err)) throw err;
      problems.push({ digest, kind: 'invalid', message: err.message });
    }
  }
  await store.withMeta(async (meta) => {
    for (const section of meta.derived) await section.clear();
    for (const [digest, record] of records) await meta.layers.put(digest, record);
    await store.layerIndexes.clear();
    for (const [diffId, index] of indexes) await store.layerIndexes.put(diffId, index);
  });
  return { layers: records.size, indexes: indexes.size, problems };
}
