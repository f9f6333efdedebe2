/**
 * @module cli/commands/rmi
 * `cairn rmi IMAGE...`: removes a tag (printing `Untagged: name:tag`), or, given an image ID
 * or digest, every entry of that image (`Deleted: sha256:…`); an intermediate image (`images
 * -a`) loses the build cache records that hold it. Blobs are freed by `gc`.
 */
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import { parseReference, tagged } from '../../store/reference.js';
import { refNameOf } from '../../store/tags.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  options: {
    force: { type: 'boolean', short: 'f', description: 'remove every tag of an image given by ID' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'rmi: needs at least one image');
    const store = await openStore(io, options.store);
    let status = 0;
    for (const text of positionals) {
      const image = await resolveImage(store, text);
      const tag = refNameOf(image.entry);
      const byName = tag !== undefined && isNameOf(text, tag);
      if (byName) {
        await store.removeTag(tag);
        print(io.stdout, `Untagged: ${tag}`);
        const stillTagged = (await store.readIndex()).manifests.some((d) => d.digest === image.entry.digest);
        if (!stillTagged) print(io.stdout, `Deleted: ${image.id}`);
        continue;
      }
      const entries = (await store.readIndex()).manifests.filter((d) => d.digest === image.entry.digest);
      if (entries.length === 0) {
        // Not in index.json: a build step's intermediate image (`images -a`), which only the build cache holds.
        await (await import('../../build/step-images.js')).removeStepImage(store, image.id);
        print(io.stdout, `Deleted: ${image.id}`);
        continue;
      }
      const tags = entries.map(refNameOf).filter((t): t is string => t !== undefined);
      if (tags.length > 1 && !options.force) {
        io.stderr.write(`Error: image ${text} is referenced in multiple repositories (${tags.join(', ')}); use -f\n`);
        status = 1;
        continue;
      }
      await store.removeDigest(image.entry.digest);
      for (const t of tags) print(io.stdout, `Untagged: ${t}`);
      print(io.stdout, `Deleted: ${image.id}`);
    }
    return status;
  },
});

function isNameOf(text: string, tag: string): boolean {
  try {
    return tagged(parseReference(text)) === tag;
  } catch {
    return false;
  }
}
