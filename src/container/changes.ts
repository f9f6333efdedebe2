/**
 * @module container/changes
 * `diff` and `commit` of a container. Overlay mode reads only the container's upper directory
 * (O(changes), design §5), asking the image's union view about the paths it names; copy mode
 * compares the copied root filesystem with the image's layer indexes (O(files)).
 *
 * Commit turns the upper (overlay: as it is, without looking at the image) or those changes
 * (copy mode) into one deterministic layer on top of the image, with docker's
 * history entry (the container's command as `created_by`, `--author`, `--message` as comment —
 * kept in OCI images too, where podman drops it) and any `--change` instructions applied to
 * the config. The container is paused (runtime freezer) while its upper is read when it runs,
 * so the layer is one consistent snapshot.
 */
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { applyChanges } from '../build/config-steps.js';
import { errnoCode } from '../errors.js';
import { diffDirectoryAgainstImage, diffOverlayUpper, writeChangesetLayer, layerFromOverlayUpper, type Change } from '../diff/index.js';
import { draftOf, mutateConfig, withLayer, writeImageWithId, writeLayer } from '../image/draft.js';
import { manifestOf, type ResolvedImage } from '../image/resolve.js';
import { packTar, type Compression } from '../tar/index.js';
import type { Descriptor } from '../oci/index.js';
import { parseReference } from '../store/reference.js';
import type { Store } from '../store/store.js';
import { UnionView } from '../union/index.js';
import { containerDirs, type ContainerRecord } from './record.js';
import { pauseWhile } from './pause.js';
import { initOnlyWhiteouts } from './rootfs.js';

async function imageOf(store: Store, record: ContainerRecord): Promise<ResolvedImage> {
  return manifestOf(store, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: record.image.manifest, size: 0 });
}

/** The container's changes against its image, sorted, in docker's A/C/D terms. */
export async function containerChanges(store: Store, record: ContainerRecord): Promise<Change[]> {
  const image = await imageOf(store, record);
  const lower = await UnionView.open(store, image);
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'overlay') {
    // A container never mounted (made before create made its upper) has changed nothing.
    if (!(await isDirectory(dirs.upper))) return [];
    return diffOverlayUpper(dirs.upper, lower);
  }
  return diffDirectoryAgainstImage(dirs.rootfs, lower);
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

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
 * The layer tar of a container's changes. Overlay: the upper as it is, with no look at the
 * image (a commit costs what the change costs, not what the image weighs). Copy: the rootfs
 * compared with the image's layer indexes.
 */
async function changesLayer(store: Store, record: ContainerRecord, image: Promise<ResolvedImage>): Promise<Readable> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'overlay') {
    if (!(await isDirectory(dirs.upper))) return packTar([]);
    return layerFromOverlayUpper(dirs.upper, { omitWhiteouts: await initOnlyWhiteouts(store, record) });
  }
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
  if (options.reference !== undefined) parseReference(options.reference);
  return store.ingest(() =>
    pauseWhile(store, record, async () => {
      const batch = store.blobs.batch();
      try {
        const image = imageOf(store, record);
        const [base, layer] = await Promise.all([
          image.then((resolved) => draftOf(store, resolved)),
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
          draft = mutateConfig(draft, (config) => applyChanges(config, changes));
        }
        const { descriptor, id } = await writeImageWithId(store, draft, { created: now, into: batch, ...(options.author !== undefined ? { author: options.author } : {}) });
        await store.setTag(options.reference, descriptor, { renameAfter: batch.commit() });
        return { descriptor, id, layer: layer.descriptor };
      } finally {
        await batch.discard();
      }
    }),
  );
}
