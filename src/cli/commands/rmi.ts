/**
 * @module cli/commands/rmi
 * `cairn rmi IMAGE...`, printing what happened as docker does. A tag is removed (`Untagged:
 * name:tag`); the image goes with it (`Deleted: sha256:…`) only when nothing else holds it: no
 * other index.json entry, and no build cache record (a build step's image, which `images -a`
 * goes on listing, as docker keeps an image a container uses). An image ID or digest removes
 * the image: every index.json entry (`Untagged:` each tag) and the build cache records that
 * hold it, then `Deleted:`. Blobs are freed by `gc`.
 *
 * An image a container was made from is refused as docker refuses it: its last tag, or the image
 * by ID while only stopped containers use it, only with `-f` (a last tag then goes and the image
 * stays as `<none>`); by ID while a container runs, not even then. Removing it never breaks the
 * container: the container pins the image's blobs and runs on its own layer directories, and `ps`
 * goes on showing the name it was made from.
 */
import { listRecords } from '../../container/record.js';
import { resolveImage } from '../../image/resolve.js';
import { CairnError } from '../../errors.js';
import type { Digest } from '../../digest/index.js';
import { parseReference, tagged } from '../../store/reference.js';
import type { Store } from '../../store/store.js';
import { refNameOf } from '../../store/tags.js';
import { defineCommand, openStore, print } from '../context.js';

/** The build cache's step images, for a store that has a build cache: one that never built loads no build module. */
async function stepImagesOf(store: Store): Promise<typeof import('../../build/step-images.js') | undefined> {
  return (await store.hasMeta()) ? import('../../build/step-images.js') : undefined;
}

/** The short IDs of the containers made from `imageId`, running ones first; the state is read only when there are any. */
async function containersUsing(store: Store, imageId: Digest): Promise<{ running: string[]; stopped: string[] }> {
  const records = (await listRecords(store)).filter((r) => r.image.id === imageId);
  const found = { running: [] as string[], stopped: [] as string[] };
  if (records.length === 0) return found;
  const { inspectContainer } = await import('../../container/lifecycle.js');
  for (const record of records) {
    const { status } = await inspectContainer(store, record);
    (status === 'running' ? found.running : found.stopped).push(record.id.slice(0, 12));
  }
  return found;
}

const short = (id: Digest): string => id.slice('sha256:'.length, 'sha256:'.length + 12);

export const command = defineCommand({
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  summary: 'Remove one or more images',
  options: {
    force: { type: 'boolean', short: 'f', description: 'remove every tag of an image given by ID, and images stopped containers use' },
  },
  async run(io, { options, positionals }) {
    if (positionals.length === 0) throw new CairnError('invalid-argument', 'rmi: needs at least one image');
    const store = await openStore(io, options.store);
    let status = 0;
    for (const text of positionals) {
      const image = await resolveImage(store, text);
      const tag = refNameOf(image.entry);
      if (tag !== undefined && isNameOf(text, tag)) {
        const otherTags = (await store.readIndex()).manifests.filter((d) => d.digest === image.entry.digest).length > 1;
        const users = otherTags ? undefined : await containersUsing(store, image.id);
        const user = users?.running[0] ?? users?.stopped[0];
        if (user !== undefined && !options.force) {
          io.stderr.write(`Error: conflict: unable to remove repository reference "${text}" (must force) - container ${user} is using its referenced image ${short(image.id)}\n`);
          status = 1;
          continue;
        }
        // An image a container uses stays, untagged, as docker keeps it (`<none>` in `images`).
        await store.removeTag(tag, { keepImage: user !== undefined });
        print(io.stdout, `Untagged: ${tag}`);
        const held = otherTags || user !== undefined || ((await (await stepImagesOf(store))?.isStepImage(store, image.id)) ?? false);
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
      const users = await containersUsing(store, image.id);
      const conflict =
        users.running[0] !== undefined
          ? `(cannot be forced) - image is being used by running container ${users.running[0]}`
          : users.stopped[0] !== undefined && !options.force
            ? `(must be forced) - image is being used by stopped container ${users.stopped[0]}`
            : undefined;
      if (conflict !== undefined) {
        io.stderr.write(`Error: conflict: unable to delete ${short(image.id)} ${conflict}\n`);
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
