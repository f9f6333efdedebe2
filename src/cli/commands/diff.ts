/**
 * @module cli/commands/diff
 * `cairn diff IMAGE1 IMAGE2`: what turns IMAGE1's filesystem into IMAGE2's, one `A /path`,
 * `C /path` or `D /path` line per change in path order (docker diff's form), from the layer
 * indexes only (nothing is unpacked). `cairn diff IMAGE`: what the image's top layer changes
 * (podman's `diff IMAGE`). `--json`: an array of changes with the old and new metadata.
 * `printChanges` is the printer `cairn diff CONTAINER` is to share.
 */
import { findContainer } from '../../container/record.js';
import { CairnError } from '../../errors.js';
import { changeToJSON, formatChanges, type Change } from '../../diff/change.js';
import { defineCommand, openStore, print, type CliIO } from '../context.js';

/** Writes changes as docker prints them, or as JSON. */
export function printChanges(io: CliIO, changes: readonly Change[], options: { json?: boolean } = {}): void {
  if (options.json) {
    print(io.stdout, JSON.stringify(changes.map(changeToJSON), null, 2));
    return;
  }
  io.stdout.write(formatChanges(changes));
}

export const command = defineCommand({
  usage: 'diff [OPTIONS] CONTAINER | IMAGE1 [IMAGE2]',
  summary: "Show a container's changes, or the changes between two images (A added, C changed, D deleted)",
  options: {
    json: { type: 'boolean', description: 'print JSON: each change with its old and new metadata' },
  },
  async run(io, { options, positionals }) {
    const [text1, text2, ...rest] = positionals;
    if (text1 === undefined || rest.length > 0) {
      throw new CairnError('invalid-argument', 'diff: needs one image (its top layer) or two images');
    }
    const store = await openStore(io, options.store);
    if (text2 === undefined) {
      // docker's `diff CONTAINER` first; an image name falls through to its top layer.
      const container = await findContainer(store, text1).catch(() => undefined);
      if (container) {
        const { containerChanges } = await import('../../container/changes.js');
        printChanges(io, await containerChanges(store, container), { json: options.json ?? false });
        return 0;
      }
    }
    // Images: layer indexes (and the meta database) load only here.
    const [{ diffImages, diffTopLayer }, { resolveImage }] = await Promise.all([import('../../diff/images.js'), import('../../image/resolve.js')]);
    const first = await resolveImage(store, text1);
    const changes = text2 === undefined ? await diffTopLayer(store, first) : await diffImages(store, first, await resolveImage(store, text2));
    printChanges(io, changes, { json: options.json ?? false });
    return 0;
  },
});
