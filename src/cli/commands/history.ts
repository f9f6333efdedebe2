/**
 * @module cli/commands/history
 * `cairn history IMAGE`: docker's table (IMAGE, CREATED, CREATED BY, SIZE, COMMENT). SIZE is
 * the layer blob's size in the store (compressed), 0B for config-only steps.
 */
import { readConfig } from '../../image/list.js';
import { imageHistory, type HistoryRow } from '../../image/history.js';
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import { createdSince, humanSize, table, truncateId } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'history [OPTIONS] IMAGE',
  summary: 'Show the history of an image',
  options: {
    'no-trunc': { type: 'boolean', description: "don't truncate output" },
    human: { type: 'boolean', short: 'H', description: 'print sizes and dates in human readable format (default true)' },
    quiet: { type: 'boolean', short: 'q', description: 'only show image IDs' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(io, { options, positionals }) {
    const [text] = positionals;
    if (text === undefined || positionals.length > 1) throw new CairnError('invalid-argument', 'history: needs exactly one image');
    const store = await openStore(io, options.store);
    const image = await resolveImage(store, text);
    const rows = imageHistory(image.id, image.manifest, await readConfig(store, image));
    const noTrunc = options['no-trunc'] ?? false;
    const human = options.human ?? true;
    const idOf = (row: HistoryRow): string => (row.id ? (noTrunc ? row.id : truncateId(row.id)) : '<missing>');
    if (options.json) {
      print(io.stdout, JSON.stringify(rows.map((r) => ({ id: r.id ?? '<missing>', created: r.created ?? null, createdBy: r.createdBy, size: r.layer?.size ?? 0, comment: r.comment, emptyLayer: r.emptyLayer })), null, 2));
      return 0;
    }
    if (options.quiet) {
      io.stdout.write(rows.map((r) => `${idOf(r)}\n`).join(''));
      return 0;
    }
    const now = Date.now();
    const body = rows.map((row) => {
      const createdBy = noTrunc || row.createdBy.length <= 45 ? row.createdBy : `${row.createdBy.slice(0, 44)}…`;
      const size = row.layer?.size ?? 0;
      return [
        idOf(row),
        human ? createdSince(row.created, now) : (row.created ?? ''),
        createdBy,
        human ? humanSize(size) : String(size),
        row.comment,
      ];
    });
    io.stdout.write(table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...body]));
    return 0;
  },
});
