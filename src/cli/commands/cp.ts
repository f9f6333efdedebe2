/** @module cli/commands/cp — `cairn cp CONTAINER:SRC DEST` and `cairn cp SRC CONTAINER:DEST`. */
import { copyFromContainer, copyIntoContainer } from '../../container/files.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore } from '../context.js';

/** `name:/path` → its parts; a host path (no colon before the first slash) → undefined. */
function containerSide(arg: string): { container: string; path: string } | undefined {
  const colon = arg.indexOf(':');
  if (colon <= 0 || arg.slice(0, colon).includes('/')) return undefined;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) || '/' };
}

export const command = defineCommand({
  usage: 'cp CONTAINER:SRC_PATH DEST_PATH | cp SRC_PATH CONTAINER:DEST_PATH',
  summary: 'Copy files between a container and the host',
  options: {},
  async run(io, { options, positionals }) {
    const [from, to] = positionals;
    if (from === undefined || to === undefined || positionals.length > 2) throw new CairnError('invalid-argument', 'cp: needs a source and a destination');
    const source = containerSide(from);
    const dest = containerSide(to);
    if ((source === undefined) === (dest === undefined)) {
      throw new CairnError('invalid-argument', 'cp: exactly one side must be CONTAINER:PATH');
    }
    const store = await openStore(io, options.store);
    if (source) await copyFromContainer(store, await findContainer(store, source.container), source.path, to);
    else if (dest) await copyIntoContainer(store, await findContainer(store, dest.container), from, dest.path);
    return 0;
  },
});
