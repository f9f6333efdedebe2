/** @module cli/commands/create — `cairn create [OPTIONS] IMAGE [COMMAND] [ARG...]`: prints the new container's ID. */
import { createContainer } from '../../container/create.js';
import { CairnError } from '../../errors.js';
import { parsePlatform } from '../../oci/platform.js';
import { defineCommand, openStore, print } from '../context.js';
import { CREATE_OPTIONS, createOptionsFrom } from './container-options.js';

export const command = defineCommand({
  usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  summary: 'Create a new container',
  options: CREATE_OPTIONS,
  stopAfterPositionals: 1,
  async run(io, { options, positionals }) {
    const [image, ...args] = positionals;
    if (image === undefined) throw new CairnError('invalid-argument', 'create: name an image');
    const store = await openStore(io, options.store);
    const record = await createContainer(store, {
      ...createOptionsFrom(options, image, args),
      ...(options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {}),
    });
    print(io.stdout, record.id);
    return 0;
  },
});
