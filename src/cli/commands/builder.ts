/**
 * @module cli/commands/builder
 * `cairn builder prune [-a] [-f]`: docker's `docker builder prune`. Without `-a` only dangling
 * build cache goes (build/prune says which); `-a` removes all of it. Without `-f` it asks
 * first, as docker does, and does nothing unless the answer starts with y. The report is
 * docker's: the removed cache objects (record keys), then `Total reclaimed space: …`.
 */
import { createInterface } from 'node:readline';
import { CairnError } from '../../errors.js';
import { defineCommand, openStore, print, type CliIO } from '../context.js';
import { humanSize } from '../format.js';

/** docker's `prompt.Confirm`: the question, then one line of stdin; yes only for y/Y…. */
async function confirm(io: CliIO, question: string): Promise<boolean> {
  io.stdout.write(`${question} [y/N] `);
  const lines = createInterface({ input: io.stdin, terminal: false });
  try {
    for await (const line of lines) return /^y/i.test(line.trim());
    return false;
  } finally {
    lines.close();
  }
}

export const command = defineCommand({
  usage: 'builder prune [OPTIONS]',
  summary: 'Remove build cache',
  options: {
    all: { type: 'boolean', short: 'a', description: 'remove all build cache, not just dangling records' },
    force: { type: 'boolean', short: 'f', description: 'do not prompt for confirmation' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length !== 1 || positionals[0] !== 'prune') {
      throw new CairnError('invalid-argument', `builder: unknown subcommand${positionals.length > 0 ? ` "${positionals.join(' ')}"` : ''} (usage: cairn builder prune [-a] [-f])`);
    }
    const all = options.all ?? false;
    if (!options.force) {
      const question = all ? 'WARNING! This will remove all build cache. Are you sure you want to continue?' : 'WARNING! This will remove all dangling build cache. Are you sure you want to continue?';
      if (!(await confirm(io, question))) {
        print(io.stdout, 'Total reclaimed space: 0B');
        return 0;
      }
    }
    const { pruneBuildCache } = await import('../../build/prune.js');
    const result = await pruneBuildCache(await openStore(io, options.store), { all });
    if (result.removed.length > 0) io.stdout.write(`Deleted build cache objects:\n${result.removed.join('\n')}\n\n`);
    print(io.stdout, `Total reclaimed space: ${humanSize(result.freedBytes)}`);
    return 0;
  },
});
