/**
 * @module cli/commands/run
 * `cairn run [OPTIONS] IMAGE [COMMAND] [ARG...]`: create and start. `-d` prints the ID and
 * leaves the container to its supervisor; otherwise the CLI waits and exits with the
 * container's status (125 when it could not be created, 126/127 when the command could not run).
 */
import { createContainerWithConfig } from '../../container/create.js';
import { startContainer } from '../../container/lifecycle.js';
import { CairnError, isCairnError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import { defineCommand, openStore, print } from '../context.js';
import { CREATE_OPTIONS, createOptionsFrom } from './container-options.js';

export const command = defineCommand({
  usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create and run a new container from an image',
  options: {
    ...CREATE_OPTIONS,
    detach: { type: 'boolean', short: 'd', description: 'run in the background and print the container ID' },
  },
  stopAfterPositionals: 1,
  async run(io, { options, positionals }) {
    const [image, ...args] = positionals;
    if (image === undefined) throw new CairnError('invalid-argument', 'run: name an image');
    const store = await openStore(io, options.store);
    const { record, imageConfig } = await createContainerWithConfig(store, {
      ...createOptionsFrom(options, image, args),
      ...(options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {}),
    });
    if (options.detach) {
      await startContainer(store, record, { imageConfig });
      print(io.stdout, record.id);
      return 0;
    }
    try {
      const status = await startContainer(store, record, {
        imageConfig,
        attach: io.processStdio ? 'inherit' : { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr },
      });
      return typeof status === 'number' ? status : 0;
    } catch (err) {
      if (isCairnError(err, 'process-failed')) {
        io.stderr.write(`Error: ${err.message}\n`);
        return /not found|no such file/i.test(err.message) ? 127 : 126;
      }
      throw err;
    }
  },
});
