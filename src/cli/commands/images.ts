/**
 * @module cli/commands/images
 * `cairn images [-a] [REPO[:TAG]]`: docker's table (REPOSITORY, TAG, IMAGE ID, CREATED, SIZE).
 * SIZE is what the image's blobs take in the store (compressed layers + config). Without `-a`,
 * the images index.json lists (tagged and dangling); `-a` adds the build steps' intermediate
 * images (build/step-images), which only it opens the metadata database for.
 */
import { listImages, type ImageSummary } from '../../image/list.js';
import { parseReference } from '../../store/reference.js';
import { createdSince, humanSize, table, truncateId } from '../format.js';
import { defineCommand, openStore, print } from '../context.js';

export const command = defineCommand({
  usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  summary: 'List images',
  options: {
    all: { type: 'boolean', short: 'a', description: 'show all images (default hides intermediate images)' },
    quiet: { type: 'boolean', short: 'q', description: 'only show image IDs' },
    digests: { type: 'boolean', description: 'show digests' },
    'no-trunc': { type: 'boolean', description: "don't truncate output" },
    json: { type: 'boolean', description: 'print JSON' },
  },
  async run(io, { options, positionals }) {
    const store = await openStore(io, options.store);
    const filter = positionals[0];
    // Intermediate images have no name, so a filter never shows them: no database to open then.
    let images = options.all && filter === undefined ? await (await import('../../build/step-images.js')).listAllImages(store) : await listImages(store);
    if (filter !== undefined) {
      const ref = parseReference(filter);
      images = images.filter((i) => i.name === ref.name && (ref.tag === undefined || i.tag === ref.tag));
    }
    if (options.json) {
      print(io.stdout, JSON.stringify(images.map(toJson), null, 2));
      return 0;
    }
    const id = (image: ImageSummary): string => (options['no-trunc'] ? image.id : truncateId(image.id));
    if (options.quiet) {
      // One line per row, duplicates included, as docker prints them.
      io.stdout.write(images.map((image) => `${id(image)}\n`).join(''));
      return 0;
    }
    const now = Date.now();
    const header = ['REPOSITORY', 'TAG', ...(options.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
    const rows = images.map((image) => [
      image.name ?? '<none>',
      image.tag ?? '<none>',
      ...(options.digests ? [image.manifestDescriptor.digest] : []),
      id(image),
      createdSince(image.config.created, now),
      humanSize(image.size),
    ]);
    io.stdout.write(table([header, ...rows]));
    return 0;
  },
});

function toJson(image: ImageSummary): Record<string, unknown> {
  return {
    Repository: image.name ?? '<none>',
    Tag: image.tag ?? '<none>',
    Id: image.id,
    Digest: image.manifestDescriptor.digest,
    Created: image.config.created ?? null,
    Size: image.size,
  };
}
