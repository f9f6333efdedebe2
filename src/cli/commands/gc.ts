/** @module cli/commands/gc — `cairn gc [--dry-run]`: remove blobs no image, container or build cache needs. */
import { gc } from '../../store/gc.js';
import { humanSize } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'gc [OPTIONS]',
  summary: 'Remove unreferenced blobs from the store',
  options: {
    'dry-run': { type: 'boolean', short: 'n', description: 'list what would be removed' },
  },
  async run(io, { options }) {
    const store = await openStore(io, options.store);
    const result = await gc(store, { dryRun: options['dry-run'] ?? false });
    const verb = options['dry-run'] ? 'would remove' : 'removed';
    for (const digest of result.removed) print(io.stdout, `${verb} ${digest}`);
    for (const derived of result.derivedRemoved) print(io.stdout, `${verb} cairn/${derived}`);
    print(io.stdout, `Total reclaimed space: ${humanSize(result.freedBytes)} (${result.removed.length} blobs; ${result.kept} kept)`);
    return 0;
  },
});
