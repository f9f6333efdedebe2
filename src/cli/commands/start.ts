/** @module cli/commands/start — `cairn start [-a] CONTAINER...`: start stopped containers (detached unless -a). */
import { startContainer } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Start one or more stopped containers',
  options: {
    attach: { type: 'boolean', short: 'a', description: "attach STDOUT/STDERR and wait for the container's exit" },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'start: name at least one container');
    if (options.attach && positionals.length > 1) throw new CairnError('invalid-argument', 'start: -a takes one container');
    const store = await openStore(io, options.store);
    for (const name of positionals) {
      const record = await findContainer(store, name);
      if (options.attach) {
        const status = await startContainer(store, record, { attach: { stdout: io.stdout, stderr: io.stderr } });
        return typeof status === 'number' ? status : 0;
      }
      await startContainer(store, record);
      print(io.stdout, name);
    }
    return 0;
  },
});
