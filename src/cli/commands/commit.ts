/** @module cli/commands/commit — `cairn commit [-a] [-m] [-c INSTR]... CONTAINER [REPO[:TAG]]`: prints the new image ID. */
import { commitContainer } from '../../container/commit.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  summary: "Create a new image from a container's changes",
  options: {
    author: { type: 'string', short: 'a', value: 'TEXT', description: 'author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    message: { type: 'string', short: 'm', value: 'TEXT', description: 'commit message' },
    change: { type: 'string', short: 'c', multiple: true, value: 'INSTRUCTION', description: 'apply a Dockerfile instruction to the image config' },
  },
  async run(io, { options, positionals }) {
    const [name, reference] = positionals;
    if (name === undefined || positionals.length > 2) throw new CairnError('invalid-argument', 'commit: needs a container and at most one image name');
    const store = await openStore(io, options.store);
    const result = await commitContainer(store, await findContainer(store, name), {
      ...(reference !== undefined ? { reference } : {}),
      ...(options.author !== undefined ? { author: options.author } : {}),
      ...(options.message !== undefined ? { message: options.message } : {}),
      ...(options.change ? { changes: options.change } : {}),
    });
    print(io.stdout, result.id);
    return 0;
  },
});
