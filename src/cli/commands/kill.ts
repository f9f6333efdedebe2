/** @module cli/commands/kill — `cairn kill [-s SIGNAL] CONTAINER...` (default SIGKILL). */
import { killContainer } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Kill one or more running containers',
  options: {
    signal: { type: 'string', short: 's', value: 'SIGNAL', description: 'signal to send (default KILL)' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'kill: name at least one container');
    const store = await openStore(io, options.store);
    for (const name of positionals) {
      await killContainer(store, await findContainer(store, name), options.signal ?? 'SIGKILL');
      print(io.stdout, name);
    }
    return 0;
  },
});
