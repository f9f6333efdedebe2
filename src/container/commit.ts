/**
 * @module container/commit
 * `commit` of a container: its changes (./changes.ts) as one deterministic layer on top of the
 * image, with docker's history entry (the container's command as `created_by`, `--author`,
 * `--message` as comment — kept in OCI images too, where podman drops it) and any `--change`
 * instructions applied to the config. The container is paused (runtime freezer) while its
 * upper is read when it runs, so the layer is one consistent snapshot.
 *
 * Overlay mode needs neither the layer indexes nor the meta database: the upper is read as it
 * is, against the container's layer directories. The build module (for `--change`) and the
 * copy-mode differ load only when used.
 */
import type { Readable } from 'node:stream';
import { overlayUpperTar } from '../diff/overlay-layer.js';
import { mutateConfig, SMALL_LAYER_BYTES, withLayer, writeImageWithId, writeLayer, type ImageDraft } from '../image/draft.js';
import type { ResolvedImage } from '../image/resolve.js';
import { parseReference } from '../store/reference.js';
import type { Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { Compression } from '../tar/compression.js';
import { tarBytes } from '../tar/write.js';
import { isDirectory, overlayLower } from './changes.js';
import { configOf, imageOf } from './image.js';
import { pauseWhile } from './pause.js';
import { containerDirs, type ContainerRecord } from './record.js';

export interface CommitOptions {
  /** `name[:tag]` for the new image; untagged (`<none>`) when absent. */
  readonly reference?: string;
  readonly author?: string;
  readonly message?: string;
  /** `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, ONBUILD). */
  readonly changes?: readonly string[];
  readonly compression?: Compression;
  readonly now?: Date;
}

export interface CommitResult {
  readonly descriptor: Descriptor;
  /** The image ID: the new config's digest. */
  readonly id: string;
  /** The new layer: the container's changes (`containerChanges` lists them in docker's terms). */
  readonly layer: Descriptor;
}

/**
 * The layer tar of a container's changes. Overlay: the upper as it is, its whiteouts checked
 * against the container's layer directories (one lookup per whiteout, whatever the image
 * weighs); as bytes when small. Copy: the rootfs compared with the image's layer indexes.
 */
async function changesLayer(store: Store, record: ContainerRecord, image: Promise<ResolvedImage>): Promise<Readable | Uint8Array> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'overlay') {
    if (!(await isDirectory(dirs.upper))) return tarBytes([]);
    return overlayUpperTar(dirs.upper, SMALL_LAYER_BYTES, { lower: await overlayLower(store, record) });
  }
  const [{ diffDirectoryAgainstImage }, { writeChangesetLayer }, { UnionView }] = await Promise.all([
    import('../diff/directories.js'),
    import('../diff/layer-writer.js'),
    import('../union/view.js'),
  ]);
  const changes = await diffDirectoryAgainstImage(dirs.rootfs, await UnionView.open(store, await image));
  return writeChangesetLayer(changes, { sourceDir: dirs.rootfs });
}

/**
 * Commits the container's changes as a new image on top of its own (`docker commit`), tagged
 * `options.reference` when given. The layer is written while the image's manifest and config
 * are read; layer, config and manifest blobs go in as one batch (one round of fsyncs), during
 * which index.json is written, to be renamed once they are in place.
 *
 * @example
 * const { id } = await commitContainer(store, record, { reference: 'web:v2', message: 'new page' });
 */
export async function commitContainer(store: Store, record: ContainerRecord, options: CommitOptions = {}): Promise<CommitResult> {
  // A bad name fails before anything is written.
  const reference = options.reference === undefined ? undefined : parseReference(options.reference);
  return store.ingest(() =>
    pauseWhile(store, record, async () => {
      const batch = store.blobs.batch();
      try {
        const image = imageOf(store, record);
        const [base, layer] = await Promise.all([
          image.then(async (resolved): Promise<ImageDraft> => ({ config: await configOf(store, resolved), layers: resolved.manifest.layers })),
          writeLayer(store, await changesLayer(store, record, image), {
            ...(options.compression ? { compression: options.compression } : {}),
            what: `the changes of container ${record.name}`,
            into: batch,
          }),
        ]);
        const now = options.now ?? new Date();
        let draft = withLayer(base, layer, {
          created: now.toISOString(),
          // docker's `created_by` for a commit: the container's command line.
          created_by: record.command.join(' '),
          ...(options.author !== undefined ? { author: options.author } : {}),
          ...(options.message !== undefined ? { comment: options.message } : {}),
        });
        if (options.changes && options.changes.length > 0) {
          const changes = options.changes;
          const { applyChanges } = await import('../build/config-steps.js');
          draft = mutateConfig(draft, (config) => applyChanges(config, changes));
        }
        const { descriptor, id } = await writeImageWithId(store, draft, { created: now, into: batch, ...(options.author !== undefined ? { author: options.author } : {}) });
        await store.setTag(reference, descriptor, { renameAfter: batch.commit() });
        return { descriptor, id, layer: layer.descriptor };
      } finally {
        await batch.discard();
      }
    }),
  );
}
