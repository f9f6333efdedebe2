/**
 * @module diff
 * Changesets (docker's `A`/`C`/`D`) between directories, images (from layer indexes only), a
 * directory and an image, and an overlay upper and its image; and changesets back into layer
 * tars. The rules are in `./compare.ts` and `./tree-diff.ts`; spec-notes/changesets.md says
 * where docker, podman and containerd differ and what cairn follows.
 */
export type { Change, ChangeJSON, ChangeKind, EntryMeta, EntryMetaJSON, EntryType } from './change.js';
export { changeToJSON, entryMetaToJSON, formatChange, formatChanges, sortChanges } from './change.js';
export type { Verdict } from './compare.js';
export { compareEntries, sameTime, sameXattrs } from './compare.js';
export type { DirectoryDiffOptions } from './directories.js';
export { diffDirectories, diffDirectoryAgainstImage } from './directories.js';
export type { ImageInput } from './images.js';
export { diffImages, diffLayerStacks, diffTopLayer } from './images.js';
export type { OverlayDiffOptions } from './overlay.js';
export { diffOverlayUpper } from './overlay.js';
export type { OverlayLayerOptions } from './overlay-layer.js';
export { layerFromOverlayUpper, overlayUpperTar } from './overlay-layer.js';
export type { LowerEntry, OverlayLower } from './overlay-lower.js';
export { layerDirsLower, unionLower } from './overlay-lower.js';
export type { ChangesetLayerOptions } from './layer-writer.js';
export { writeChangesetLayer } from './layer-writer.js';
export type { SideEntry, TreeSide } from './tree-diff.js';
export { diffTrees } from './tree-diff.js';
