/**
 * @module store/rebuild
 * `fsck --rebuild`: re-derives the layer records in meta from the blobs. Each layer blob of each
 * image is decompressed once; its diffID is checked against the image config's `rootfs.diff_ids`
 * (copying into the store checks only compressed digests, as skopeo does, so this is where a
 * lying config is caught).
 */
import type { Digest } from '../digest/index.js';
import { isCairnError } from '../errors.js';
import { isIndexType, parseConfig, parseIndex, parseManifest } from '../oci/index.js';
import { digestLayer } from '../tar/index.js';
import type { FsckProblem } from './fsck.js';
import type { LayerRecord } from './meta.js';
import type { Store } from './store.js';

export interface RebuildResult {
  readonly layers: number;
  readonly problems: FsckProblem[];
}

export async function rebuildMeta(store: Store): Promise<RebuildResult> {
  const problems: FsckProblem[] = [];
  const records = new Map<Digest, LayerRecord>();
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
          const scanned = await digestLayer(await store.blobs.open(layer.digest), { what });
          record = { diffId: scanned.diffId, size: scanned.size, compression: scanned.compression };
          records.set(layer.digest, record);
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
  });
  return { layers: records.size, problems };
}
