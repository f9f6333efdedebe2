/** @module cli/commands/logs — `cairn logs [-f] [--tail N] CONTAINER`: the container's output, stdout and stderr kept apart. */
import { containerLogs } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore } from '../context.js';

export const command = defineCommand({
  usage: 'logs [OPTIONS] CONTAINER',
  summary: 'Fetch the logs of a container',
  options: {
    follow: { type: 'boolean', short: 'f', description: 'follow log output' },
    tail: { type: 'string', short: 'n', value: 'N', description: 'number of lines to show from the end of the logs' },
    timestamps: { type: 'boolean', short: 't', description: 'show timestamps' },
  },
  async run(io, { options, positionals }) {
    const [name] = positionals;
    if (name === undefined || positionals.length > 1) throw new CairnError('invalid-argument', 'logs: name exactly one container');
    const tail = options.tail === undefined || options.tail === 'all' ? undefined : Number(options.tail);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw new CairnError('invalid-argument', `logs: --tail takes a number, not "${options.tail}"`);
    const store = await openStore(io, options.store);
    const record = await findContainer(store, name);
    for await (const line of containerLogs(store, record, { follow: options.follow ?? false, ...(tail !== undefined ? { tail } : {}) })) {
      const out = line.stream === 'stderr' ? io.stderr : io.stdout;
      out.write(options.timestamps ? `${line.time} ${line.log}` : line.log);
    }
    return 0;
  },
});
