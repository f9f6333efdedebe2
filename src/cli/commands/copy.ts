/**
 * @module cli/commands/copy
 * `cairn copy SRC DST` (skopeo copy): between `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
 * `docker-archive:FILE[:NAME:TAG]`, registries (`docker://HOST/NAME[:TAG]`) and store images
 * (`NAME[:TAG]`).
 */
import { CairnError } from '../../errors.js';
import { parsePlatform } from '../../oci/index.js';
import { copy } from '../../transport/open.js';
import { defineCommand, openStore, print } from '../context.js';
import { progressFor } from '../progress.js';
import { tlsVerifyOption } from './registry-options.js';

export const command = defineCommand({
  usage: 'copy [OPTIONS] SOURCE DESTINATION',
  summary: 'Copy an image between the store, registries, OCI layouts and archives',
  options: {
    all: { type: 'boolean', short: 'a', description: 'copy every image of a multi-platform index, and the index' },
    format: { type: 'string', short: 'f', value: 'oci|docker', description: 'convert manifests to this format' },
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'pick this platform from an index (default: this host)' },
    quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
    'tls-verify': { type: 'boolean', description: 'for docker:// ends: require HTTPS and verify certificates (default true; loopback registries may use HTTP)' },
  },
  async run(io, { options, positionals }) {
    const [source, destination] = positionals;
    if (source === undefined || destination === undefined || positionals.length > 2) {
      throw new CairnError('invalid-argument', 'copy: needs exactly two arguments: SOURCE DESTINATION');
    }
    const format = options.format;
    if (format !== undefined && format !== 'oci' && format !== 'docker') {
      throw new CairnError('invalid-argument', `copy: --format must be oci or docker, not "${format}"`);
    }
    const store = await openStore(io, options.store);
    const progress = progressFor(io, options.quiet);
    try {
      const record = await copy(source, destination, {
        store,
        registry: tlsVerifyOption(options['tls-verify']),
        ...(format !== undefined ? { format } : {}),
        ...(options.all ? { all: true } : {}),
        ...(options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {}),
        wrapBlob: progress.wrapBlob,
      });
      progress.done();
      if (!options.quiet) print(io.stdout, `Copied ${record.descriptor.digest}`);
    } catch (err) {
      progress.done();
      throw err;
    }
    return 0;
  },
});
