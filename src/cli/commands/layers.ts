/**
 * @module cli/commands/layers
 * `cairn layers IMAGE`: one row per layer, bottom first: blob digest, diffID, compressed and
 * uncompressed size, number of tar entries, and the history step that made it (`created_by`,
 * docker's form). Uncompressed sizes and entry counts come from the layer indexes, which are
 * built (one pass per layer, diffID checked) the first time and read from meta afterwards.
 * `--json` prints exact numbers; digests are shortened to 12 hex digits unless `--no-trunc`.
 */
import { CairnError } from '../../errors.js';
import { readConfig } from '../../image/list.js';
import { resolveImage } from '../../image/resolve.js';
import { indexImage } from '../../layer/index-store.js';
import { humanSize, table, truncateId } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'layers [OPTIONS] IMAGE',
  summary: "List an image's layers: digests, sizes, entries and the step that made each",
  options: {
    'no-trunc': { type: 'boolean', description: "don't truncate digests and commands" },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(io, { options, positionals }) {
    const [text, ...rest] = positionals;
    if (text === undefined || rest.length > 0) throw new CairnError('invalid-argument', 'layers: needs exactly one image');
    const store = await openStore(io, options.store);
    const image = await resolveImage(store, text);
    const config = await readConfig(store, image);
    const steps = (config.history ?? []).filter((h) => h.empty_layer !== true);
    const layers = await indexImage(store, image);
    const rows = layers.map((layer, i) => ({
      index: i,
      digest: layer.descriptor.digest,
      diffId: layer.diffId,
      mediaType: layer.descriptor.mediaType,
      compression: layer.record.compression,
      size: layer.descriptor.size,
      uncompressedSize: layer.record.size,
      entries: layer.index.entries.length,
      createdBy: steps[i]?.created_by ?? '',
    }));
    if (options.json) {
      print(io.stdout, JSON.stringify(rows, null, 2));
      return 0;
    }
    const noTrunc = options['no-trunc'] ?? false;
    const id = (d: string): string => (noTrunc ? d : truncateId(d));
    const body = rows.map((r) => [
      String(r.index),
      id(r.digest),
      id(r.diffId),
      humanSize(r.size),
      humanSize(r.uncompressedSize),
      String(r.entries),
      noTrunc || r.createdBy.length <= 45 ? r.createdBy : `${r.createdBy.slice(0, 44)}…`,
    ]);
    io.stdout.write(table([['#', 'DIGEST', 'DIFF ID', 'SIZE', 'UNCOMPRESSED', 'ENTRIES', 'CREATED BY'], ...body]));
    return 0;
  },
});
