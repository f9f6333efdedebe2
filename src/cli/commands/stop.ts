/** @module cli/commands/stop — `cairn stop [-t SECONDS] CONTAINER...`: stop signal, then SIGKILL after the grace period. */
import { stopContainer } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  summary: 'Stop one or more running containers',
  options: {
    time: { type: 'string', short: 't', value: 'SECONDS', description: 'seconds to wait before killing the container (default 10)' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'stop: name at least one container');
    const timeoutSec = options.time === undefined ? undefined : Number(options.time);
    if (timeoutSec !== undefined && (!Number.isInteger(timeoutSec) || timeoutSec < 0)) {
      throw new CairnError('invalid-argument', `stop: -t takes a whole number of seconds, not "${options.time}"`);
    }
    const store = await openStore(io, options.store);
    for (const name of positionals) {
      await stopContainer(store, await findContainer(store, name), timeoutSec === undefined ? {} : { timeoutSec });
      print(io.stdout, name);
    }
    return 0;
  },
});
