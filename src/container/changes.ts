/**
 * @module container/changes
 * `diff` of a container, and the lower side `commit` shares. Overlay mode reads only the
 * container's upper directory (O(changes), design §5) and asks the image's unpacked layer
 * directories (the container's own lowerdirs, looked up as overlayfs does) about the paths it
 * names: no layer index and no meta database, so `cairn diff CONTAINER` stays a short process.
 * Copy mode compares the copied root filesystem with the image's layer indexes (O(files)).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Change } from '../diff/change.js';
import { diffOverlayUpper } from '../diff/overlay.js';
import { layerDirsLower, type OverlayLower } from '../diff/overlay-lower.js';
import type { Store } from '../store/store.js';
import { containerDirs, type ContainerRecord } from './record.js';

/** An overlay container's lower: its image's layer directories, top first (as mounted). */
export function overlayLower(store: Store, record: ContainerRecord): Promise<OverlayLower> {
  return layerDirsLower([...record.layers].reverse().map((name) => path.join(store.paths.layers, name)));
}

/** The container's changes against its image, sorted, in docker's A/C/D terms. */
export async function containerChanges(store: Store, record: ContainerRecord): Promise<Change[]> {
  const dirs = containerDirs(store, record.id);
  if (record.rootfs === 'overlay') {
    // A container never mounted (made before create made its upper) has changed nothing.
    if (!(await isDirectory(dirs.upper))) return [];
    return diffOverlayUpper(dirs.upper, await overlayLower(store, record));
  }
  const [{ diffDirectoryAgainstImage }, { UnionView }, { imageOf }] = await Promise.all([
    import('../diff/directories.js'),
    import('../union/view.js'),
    import('./image.js'),
  ]);
  return diffDirectoryAgainstImage(dirs.rootfs, await UnionView.open(store, await imageOf(store, record)));
}

export async function isDirectory(dir: string): Promise<boolean> {
  // Synchronous: one stat on the path of `diff`, which otherwise never needs the thread pool.
  return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
