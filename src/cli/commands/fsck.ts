/**
 * @module cli/commands/fsck
 * `cairn fsck [--rebuild]`: verify every blob and every image's graph; exits 1 naming each bad
 * digest. `--rebuild` re-derives the metadata database from the blobs.
 */
import { fsck } from '../../store/fsck.js';
import { humanSize } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'fsck [OPTIONS]',
  summary: 'Verify the store: blob digests and image graphs',
  options: {
    rebuild: { type: 'boolean', description: 'rebuild derived metadata (layer records and indexes) from the blobs' },
  },
  async run(io, { options }) {
    const store = await openStore(io, options.store);
    const result = await fsck(store);
    for (const problem of result.problems) print(io.stderr, `${problem.kind}: ${problem.message}`);
    if (options.rebuild) {
      const { rebuildMetaWithIndexes } = await import('../../layer/index-store.js');
      const rebuilt = await rebuildMetaWithIndexes(store);
      print(io.stdout, `rebuilt ${rebuilt.layers} layer records and indexes`);
      for (const problem of rebuilt.problems) print(io.stderr, `${problem.kind}: ${problem.message}`);
      result.problems.push(...rebuilt.problems);
    }
    print(io.stdout, `checked ${result.blobsChecked} blobs (${humanSize(result.bytesChecked)}): ${result.problems.length === 0 ? 'ok' : `${result.problems.length} problems`}`);
    return result.problems.length === 0 ? 0 : 1;
  },
});
