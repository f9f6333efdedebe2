/**
 * @module cli/commands/pull
 * `cairn pull NAME[:TAG|@DIGEST]` (podman pull): from a registry into the store, tagged with the
 * name as typed. Progress on stderr; the image ID on stdout, as podman prints it.
 */
import { CairnError } from '../../errors.js';
import { resolveImage } from '../../image/resolve.js';
import { parsePlatform } from '../../oci/index.js';
import { pull } from '../../transport/pull-push.js';
import { defineCommand, openStore, print } from '../context.js';
import { progressFor } from '../progress.js';
import { transferLog } from '../transfer-log.js';
import { tlsVerifyOption } from './registry-options.js';

export const command = defineCommand({
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  summary: 'Pull an image from a registry into the store',
  options: {
    'all-platforms': { type: 'boolean', short: 'a', description: 'pull every image of a multi-platform index, and the index' },
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'pick this platform from an index (default: this host)' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the image ID' },
    'tls-verify': { type: 'boolean', description: 'require HTTPS and verify certificates (default true; loopback registries may use HTTP)' },
  },
  async run(io, { options, positionals }) {
    const [reference, ...rest] = positionals;
    if (reference === undefined || rest.length > 0) throw new CairnError('invalid-argument', 'pull: needs exactly one image name');
    const store = await openStore(io, options.store);
    if (!options.quiet) io.stderr.write(`Trying to pull ${reference}...\n`);
    const onProgress = transferLog(io, options.quiet ?? false);
    const progress = progressFor(io, options.quiet);
    try {
      const { record } = await pull(reference, {
        store,
        registry: tlsVerifyOption(options['tls-verify']),
        ...(options['all-platforms'] ? { all: true } : {}),
        ...(options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {}),
        ...(onProgress !== undefined ? { onProgress } : {}),
        wrapBlob: progress.wrapBlob,
      });
      progress.done();
      if (!options.quiet) io.stderr.write('Writing manifest to image destination\n');
      const image = await resolveImage(store, record.descriptor.digest, options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {});
      print(io.stdout, image.id.slice('sha256:'.length));
    } catch (err) {
      progress.done();
      throw err;
    }
    return 0;
  },
});
