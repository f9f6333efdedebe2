/** @module cli/commands/save — `cairn save -o FILE IMAGE...`: write images to a docker-archive (or --format oci-archive). */
import { CairnError } from '../../errors.js';
import { saveImages } from '../../transport/load.js';
import { defineCommand, openStore } from '../context.js';

export const command = defineCommand({
  usage: 'save [OPTIONS] -o FILE IMAGE [IMAGE...]',
  summary: 'Save one or more images to a tar archive',
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'write to this file' },
    format: { type: 'string', value: 'docker-archive|oci-archive', description: 'archive format (default docker-archive)' },
  },
  async run(io, { options, positionals }) {
    if (options.output === undefined) throw new CairnError('invalid-argument', 'save: name the output file with -o FILE');
    const format = options.format ?? 'docker-archive';
    if (format !== 'docker-archive' && format !== 'oci-archive') {
      throw new CairnError('invalid-argument', `save: --format must be docker-archive or oci-archive, not "${format}"`);
    }
    const store = await openStore(io, options.store);
    await saveImages(store, positionals, options.output, { format });
    return 0;
  },
});
