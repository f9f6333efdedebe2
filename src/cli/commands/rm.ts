/** @module cli/commands/rm — `cairn rm [-f] CONTAINER...`: remove containers (-f kills a running one first). */
import { removeContainer } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Remove one or more containers',
  options: {
    force: { type: 'boolean', short: 'f', description: 'force the removal of a running container (uses SIGKILL)' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'rm: name at least one container');
    const store = await openStore(io, options.store);
    let status = 0;
    for (const name of positionals) {
      try {
        await removeContainer(store, await findContainer(store, name), { force: options.force ?? false });
        print(io.stdout, name);
      } catch (err) {
        if (!(err instanceof CairnError)) throw err;
        io.stderr.write(`Error: ${err.message}\n`);
        status = 1;
      }
    }
    return status;
  },
});
