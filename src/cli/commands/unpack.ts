/**
 * @module cli/commands/unpack
 * `cairn unpack [--platform P] IMAGE DIR`: the image's root filesystem in DIR, like the
 * `rootfs/` of `umoci unpack` (owners, modes, xattrs, hardlinks, devices as root, mtimes).
 * DIR must not exist or be empty. Warnings (xattrs or devices that could not be applied) go to
 * stderr, at most ten of them followed by a count.
 */
import { CairnError } from '../../errors.js';
import { unpack } from '../../layer/unpack.js';
import { parsePlatform } from '../../oci/index.js';
import { defineCommand, openStore, print } from '../context.js';

const SHOWN_WARNINGS = 10;

export const command = defineCommand({
  usage: 'unpack [OPTIONS] IMAGE DIR',
  summary: "Unpack an image's root filesystem into a directory",
  options: {
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'pick this platform from an index (default: this host)' },
    quiet: { type: 'boolean', short: 'q', description: 'print nothing on success' },
  },
  async run(io, { options, positionals }) {
    const [image, dir] = positionals;
    if (image === undefined || dir === undefined || positionals.length > 2) {
      throw new CairnError('invalid-argument', 'unpack: needs exactly two arguments: IMAGE DIR');
    }
    const store = await openStore(io, options.store);
    const result = await unpack(store, image, dir, options.platform !== undefined ? { platform: parsePlatform(options.platform) } : {});
    const { warnings } = result;
    for (const w of warnings.slice(0, SHOWN_WARNINGS)) io.stderr.write(`warning: ${w.what}: ${w.path}: ${w.message}\n`);
    if (warnings.length > SHOWN_WARNINGS) io.stderr.write(`warning: … and ${warnings.length - SHOWN_WARNINGS} more\n`);
    if (!options.quiet) {
      const entries = result.layers.reduce((n, l) => n + l.entries, 0);
      print(io.stdout, `Unpacked ${image} (${result.layers.length} layers, ${entries} entries) into ${dir}`);
    }
    return 0;
  },
});
