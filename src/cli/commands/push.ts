/**
 * @module cli/commands/push
 * `cairn push IMAGE [DESTINATION]` (podman push): to the registry IMAGE's name names, or to
 * DESTINATION (a registry reference, `docker://…`, or any transport `cairn copy` takes). Ends
 * with docker's line `TAG: digest: sha256:… size: N`.
 */
import { CairnError } from '../../errors.js';
import { push } from '../../transport/pull-push.js';
import { defineCommand, openStore, print } from '../context.js';
import { progressFor } from '../progress.js';
import { transferLog } from '../transfer-log.js';
import { tlsVerifyOption } from './registry-options.js';

export const command = defineCommand({
  usage: 'push [OPTIONS] IMAGE [DESTINATION]',
  summary: 'Push a store image to a registry (or any transport)',
  options: {
    all: { type: 'boolean', description: 'push a multi-platform index with all its images' },
    format: { type: 'string', short: 'f', value: 'oci|docker', description: 'convert manifests to this format' },
    quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
    'tls-verify': { type: 'boolean', description: 'require HTTPS and verify certificates (default true; loopback registries may use HTTP)' },
  },
  async run(io, { options, positionals }) {
    const [image, destination, ...rest] = positionals;
    if (image === undefined || rest.length > 0) throw new CairnError('invalid-argument', 'push: needs IMAGE and at most one DESTINATION');
    const format = options.format;
    if (format !== undefined && format !== 'oci' && format !== 'docker') {
      throw new CairnError('invalid-argument', `push: --format must be oci or docker, not "${format}"`);
    }
    const store = await openStore(io, options.store);
    const onProgress = transferLog(io, options.quiet ?? false);
    const progress = progressFor(io, options.quiet);
    try {
      const record = await push(image, destination, {
        store,
        registry: tlsVerifyOption(options['tls-verify']),
        ...(options.all ? { all: true } : {}),
        ...(format !== undefined ? { format } : {}),
        ...(onProgress !== undefined ? { onProgress } : {}),
        wrapBlob: progress.wrapBlob,
      });
      progress.done();
      if (!options.quiet) io.stderr.write('Writing manifest to image destination\n');
      const target = destination ?? image;
      const tag = /:([\w][\w.-]*)$/.exec(target.replace(/^.*\//, ''))?.[1] ?? 'latest';
      print(io.stdout, `${tag}: digest: ${record.descriptor.digest} size: ${record.descriptor.size}`);
    } catch (err) {
      progress.done();
      throw err;
    }
    return 0;
  },
});
