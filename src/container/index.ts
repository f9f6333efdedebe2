/**
 * @module container
 * Containers over the store (design §6): create from an image, start under runc (or the unshare
 * fallback) attached or detached, exec, logs, stop, kill, rm; change files from code; diff and
 * commit in docker's terms.
 */
export { createContainer, createContainerWithConfig } from './create.js';
export type { CreateOptions, CreatedContainer } from './create.js';
export { findContainer, listRecords, containerDirs, checkContainerName } from './record.js';
export type { ContainerRecord, ContainerDirs, RootfsMode } from './record.js';
export {
  startContainer,
  stopContainer,
  killContainer,
  removeContainer,
  execInContainer,
  containerLogs,
  inspectContainer,
  listContainers,
  imageConfigOf,
} from './lifecycle.js';
export type { ContainerInfo, ContainerStatus, StartOptions } from './lifecycle.js';
export { containerChanges } from './changes.js';
export { commitContainer } from './commit.js';
export type { CommitOptions, CommitResult } from './commit.js';
export {
  writeContainerFile,
  readContainerFile,
  makeContainerDir,
  removeContainerPath,
  symlinkInContainer,
  chmodInContainer,
  chownInContainer,
  copyIntoContainer,
  copyFromContainer,
} from './files.js';
export type { WriteFileOptions } from './files.js';
export { mountRootfs, unmountRootfs } from './rootfs.js';
