/**
 * @module cli/commands/export
 * `cairn export [-o FILE] IMAGE`: the image's flattened root filesystem as one tar (all layers
 * applied, whiteouts gone), deterministic: the same image gives the same bytes. Unlike
 * `docker export`, which flattens a container, this flattens an image. Without `-o` (or with
 * `-o -`) the tar goes to stdout, which must not be a terminal. A file is written beside its
 * final name and renamed into place only when complete.
 */
import { createWriteStream } from 'node:fs';
import { CairnError } from '../../errors.js';
import { exportRootfs } from '../../layer/unpack.js';
import { parsePlatform } from '../../oci/index.js';
import { replaceVia } from '../../sys/atomic.js';
import { defineCommand, openStore } from '../context.js';

export const command = defineCommand({
  usage: 'export [OPTIONS] IMAGE',
  summary: "Export an image's flattened root filesystem as a tar archive",
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'write to this file instead of stdout' },
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'pick this platform from an index (default: this host)' },
  },
  async run(io, { options, positionals }) {
    const [image] = positionals;
    if (image === undefined || positionals.length > 1) throw new CairnError('invalid-argument', 'export: needs exactly one image');
    const store = await openStore(io, options.store);
    const opts = options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {};
    const output = options.output;
    if (output === undefined || output === '-') {
      if (io.stdout.isTTY) {
        throw new CairnError('invalid-argument', 'export: refusing to write a tar archive to a terminal; use -o FILE or redirect stdout');
      }
      await exportRootfs(store, image, io.stdout, { ...opts, end: false });
      return 0;
    }
    await replaceVia(output, (temp) => exportRootfs(store, image, createWriteStream(temp, { flags: 'wx', mode: 0o644 }), opts));
    return 0;
  },
});
