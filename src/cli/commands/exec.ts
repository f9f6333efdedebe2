/** @module cli/commands/exec — `cairn exec [-i] [-t] [-e] [-w] [-u] CONTAINER COMMAND [ARG...]`; exits with the command's status. */
import { execInContainer } from '../../container/lifecycle.js';
import { findContainer } from '../../container/record.js';
import { CairnError, isCairnError } from '../../errors.js';
import { defineCommand, openStore } from '../context.js';

export const command = defineCommand({
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  summary: 'Execute a command in a running container',
  options: {
    interactive: { type: 'boolean', short: 'i', description: 'keep STDIN open' },
    tty: { type: 'boolean', short: 't', description: 'allocate a pseudo-TTY' },
    env: { type: 'string', short: 'e', multiple: true, value: 'KEY=VALUE', description: 'set environment variables' },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory inside the container' },
    user: { type: 'string', short: 'u', value: 'USER[:GROUP]', description: 'username or UID' },
  },
  stopAfterPositionals: 1,
  async run(io, { options, positionals }) {
    const [name, ...args] = positionals;
    if (name === undefined || args.length === 0) throw new CairnError('invalid-argument', 'exec: needs a container and a command');
    const store = await openStore(io, options.store);
    const record = await findContainer(store, name);
    try {
      return await execInContainer(store, record, {
        args,
        ...(options.env ? { env: options.env } : {}),
        ...(options.workdir !== undefined ? { cwd: options.workdir } : {}),
        ...(options.user !== undefined ? { user: options.user } : {}),
        tty: options.tty ?? false,
        interactive: options.interactive ?? false,
        stdio: io.processStdio ? 'inherit' : { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr },
      });
    } catch (err) {
      if (isCairnError(err, 'process-failed')) {
        io.stderr.write(`Error: ${err.message}\n`);
        return /not found|no such file/i.test(err.message) ? 127 : 126;
      }
      throw err;
    }
  },
});
