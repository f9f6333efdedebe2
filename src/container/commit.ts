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
import { diffOverlayUpper } from '../diff/overlay.js';
import { layerFromOverlayUpper } from '../diff/overlay-layer.js';
import { appendLayer, draftOf, mutateConfig, writeImage } from '../image/draft.js';
import { manifestOf, type ResolvedImage } from '../image/resolve.js';
import type { Descriptor } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { packTar, type Compression } from '../tar/index.js';
import { isDirectory, overlayLower } from './changes.js';
import { imageOf } from './image.js';
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
  readonly changes: number;
}

/** The layer tar of a container's changes. */
async function changesLayer(store: Store, record: ContainerRecord, image: ResolvedImage): Promise<{ tar: Readable; count: number }> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'overlay') {
    if (!(await isDirectory(dirs.upper))) return { tar: packTar([]), count: 0 };
    const lower = await overlayLower(store, record);
    const count = (await diffOverlayUpper(dirs.upper, lower)).length;
    return { tar: layerFromOverlayUpper(dirs.upper, { lower }), count };
  }
  const [{ diffDirectoryAgainstImage }, { writeChangesetLayer }, { UnionView }] = await Promise.all([
    import('../diff/directories.js'),
    import('../diff/layer-writer.js'),
    import('../union/view.js'),
  ]);
  const changes = await diffDirectoryAgainstImage(dirs.rootfs, await UnionView.open(store, image));
  return { tar: writeChangesetLayer(changes, { sourceDir: dirs.rootfs }), count: changes.length };
}

export async function commitContainer(store: Store, record: ContainerRecord, options: CommitOptions = {}): Promise<CommitResult> {
  return store.ingest(() =>
    pauseWhile(store, record, async () => {
      const image = await imageOf(store, record);
      let draft = await draftOf(store, image);
      const now = options.now ?? new Date();
      const { tar, count } = await changesLayer(store, record, image);
      draft = await appendLayer(store, draft, tar, {
        ...(options.compression ? { compression: options.compression } : {}),
        what: `the changes of container ${record.name}`,
        history: {
          created: now.toISOString(),
          // docker's `created_by` for a commit: the container's command line.
          created_by: record.command.join(' '),
          ...(options.author !== undefined ? { author: options.author } : {}),
          ...(options.message !== undefined ? { comment: options.message } : {}),
        },
      });
      if (options.changes && options.changes.length > 0) {
        const changes = options.changes;
        const { applyChanges } = await import('../build/config-steps.js');
        draft = mutateConfig(draft, (config) => applyChanges(config, changes));
      }
      const descriptor = await writeImage(store, draft, { created: now, ...(options.author !== undefined ? { author: options.author } : {}) });
      await store.setTag(options.reference, descriptor);
      const written = await manifestOf(store, descriptor);
      return { descriptor, id: written.id, changes: count };
    }),
  );
}
