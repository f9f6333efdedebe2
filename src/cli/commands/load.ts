/** @module cli/commands/load — `cairn load -i FILE`: import a docker or OCI archive (format detected). */
import { CairnError } from '../../errors.js';
import { loadArchive } from '../../transport/load.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'load [OPTIONS] -i FILE',
  summary: 'Load images from a docker-archive or oci-archive file',
  options: {
    input: { type: 'string', short: 'i', value: 'FILE', description: 'read from this archive' },
    quiet: { type: 'boolean', short: 'q', description: 'suppress the load output' },
  },
  async run(io, { options, positionals }) {
    const input = options.input ?? positionals[0];
    if (input === undefined) throw new CairnError('invalid-argument', 'load: name the archive with -i FILE');
    const store = await openStore(io, options.store);
    const loaded = await loadArchive(store, input);
    if (!options.quiet) {
      for (const image of loaded) {
        if (image.names.length === 0) print(io.stdout, `Loaded image ID: ${image.descriptor.digest}`);
        for (const name of image.names) print(io.stdout, `Loaded image: ${name}`);
      }
    }
    return 0;
  },
});
