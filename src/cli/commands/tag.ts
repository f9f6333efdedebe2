/** @module cli/commands/tag — `cairn tag SOURCE TARGET`: another name for an image. */
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore } from '../context.js';

export const command = defineCommand({
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  options: {},
  async run(io, { options, positionals }) {
    const [source, target] = positionals;
    if (source === undefined || target === undefined || positionals.length > 2) {
      throw new CairnError('invalid-argument', 'tag: needs exactly two arguments: SOURCE_IMAGE TARGET_IMAGE');
    }
    const store = await openStore(io, options.store);
    const image = await resolveImage(store, source);
    await store.setTag(target, image.entry);
    return 0;
  },
});
