/**
 * @module cli/commands/rmi
 * `cairn rmi IMAGE...`, printing what happened as docker does. A tag is removed (`Untagged:
 * name:tag`); the image goes with it (`Deleted: sha256:…`) only when nothing else holds it: no
 * other index.json entry, and no build cache record (a build step's image, which `images -a`
 * goes on listing, as docker keeps an image a container uses). An image ID or digest removes
 * the image: every index.json entry (`Untagged:` each tag) and the build cache records that
 * hold it, then `Deleted:`. Blobs are freed by `gc`.
 */
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import { parseReference, tagged } from '../../store/reference.js';
import type { Store } from '../../store/store.js';
import { refNameOf } from '../../store/tags.js';
import { defineCommand, openStore, print } from '../context.js';

/** The build cache's step images, for a store that has a build cache: one that never built loads no build module. */
async function stepImagesOf(store: Store): Promise<typeof import('../../build/step-images.js') | undefined> {
  return (await store.hasMeta()) ? import('../../build/step-images.js') : undefined;
}

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
      if (tag !== undefined && isNameOf(text, tag)) {
        await store.removeTag(tag);
        print(io.stdout, `Untagged: ${tag}`);
        const stillListed = (await store.readIndex()).manifests.some((d) => d.digest === image.entry.digest);
        const held = stillListed || ((await (await stepImagesOf(store))?.isStepImage(store, image.id)) ?? false);
        if (!held) print(io.stdout, `Deleted: ${image.id}`);
        continue;
      }
      const entries = (await store.readIndex()).manifests.filter((d) => d.digest === image.entry.digest);
      const tags = entries.map(refNameOf).filter((t): t is string => t !== undefined);
      if (tags.length > 1 && !options.force) {
        io.stderr.write(`Error: image ${text} is referenced in multiple repositories (${tags.join(', ')}); use -f\n`);
        status = 1;
        continue;
      }
      // index.json lists tagged and dangling images, the build cache holds the build steps' images
      // (a build's last step is the image it tagged, so both may): the image goes from both.
      if (entries.length > 0) await store.removeDigest(image.entry.digest);
      await (await stepImagesOf(store))?.removeStepImage(store, image.id);
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
