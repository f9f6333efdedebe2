/**
 * @module cli/commands/cat
 * `cairn cat IMAGE PATH...`: write files of an image to stdout, byte for byte, without
 * unpacking it. Symlinks are followed inside the image's root (an absolute target is re-rooted,
 * as when the image is unpacked). Contents come from the topmost layer holding each file and
 * are checked against the layer index; the seekable cache of a large compressed layer is
 * written while it is first indexed, so the next `cat` from it reads one or two 1 MiB frames
 * instead of decompressing the layer (see src/layer/random-access.ts).
 */
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { CairnError } from '../../errors.js';
import { resolveImage } from '../../image/resolve.js';
import { UnionView } from '../../union/view.js';
import { defineCommand, openStore, type CliIO } from '../context.js';

export const command = defineCommand({
  usage: 'cat IMAGE PATH [PATH...]',
  summary: 'Print files of an image without unpacking it',
  options: {},
  async run(io, { options, positionals }) {
    const [text, ...paths] = positionals;
    if (text === undefined || paths.length === 0) throw new CairnError('invalid-argument', 'cat: needs an image and a path');
    const store = await openStore(io, options.store);
    const view = await UnionView.open(store, await resolveImage(store, text), { seekable: true });
    for (const path of paths) await pipeline(await view.createReadStream(path), intoStdout(io));
    return 0;
  },
});

/** stdout without ending it (several files, and the CLI's stream outlives the command). */
function intoStdout(io: CliIO): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (io.stdout.write(chunk)) callback();
      else io.stdout.once('drain', () => callback());
    },
  });
}
