/**
 * @module image/history
 * `history`: the config's history entries, newest first, each paired with its layer (entries
 * marked `empty_layer` have none). Like docker, only the top entry carries the image ID; the
 * rest show `<missing>` because cairn has no per-step parent images.
 */
import type { Digest } from '../digest/index.js';
import type { Descriptor, HistoryEntry, ImageConfig, ImageManifest } from '../oci/index.js';

export interface HistoryRow {
  /** The image ID on the top row, undefined (`<missing>`) below it. */
  readonly id?: Digest;
  readonly created?: string;
  readonly createdBy: string;
  readonly author?: string;
  readonly comment: string;
  /** The layer this step made, when it made one. */
  readonly layer?: Descriptor;
  readonly emptyLayer: boolean;
}

export function imageHistory(id: Digest, manifest: ImageManifest, config: ImageConfig): HistoryRow[] {
  const entries: readonly HistoryEntry[] = config.history && config.history.length > 0
    ? config.history
    : manifest.layers.map(() => ({}));
  const rows: HistoryRow[] = [];
  let layerIndex = 0;
  for (const entry of entries) {
    const emptyLayer = entry.empty_layer === true;
    const layer = emptyLayer ? undefined : manifest.layers[layerIndex++];
    rows.push({
      ...(entry.created !== undefined ? { created: entry.created } : {}),
      createdBy: entry.created_by ?? '',
      ...(entry.author !== undefined ? { author: entry.author } : {}),
      comment: entry.comment ?? '',
      ...(layer ? { layer } : {}),
      emptyLayer,
    });
  }
  rows.reverse();
  if (rows[0]) rows[0] = { ...rows[0], id };
  return rows;
}
