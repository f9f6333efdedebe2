/**
 * @module layer/unpack
 * An image's root filesystem on disk, like `umoci unpack`'s `rootfs/` (design §3, §4), and the
 * same flattened into one tar (`exportRootfs`).
 *
 * `unpack` applies the layers bottom-up with `applyLayer`. Each blob is read once: `scanLayer`
 * detects the compression by magic, hashes the blob and the uncompressed tar on the way and
 * hands the tar to the applier, so every layer's digest and diffID are checked against the
 * manifest and config in the same pass. A mismatch (or any other failure) removes what was
 * unpacked: a directory we created is deleted, one that existed (empty) is emptied again. The
 * root directory's mtime starts at the epoch (umoci's choice: few layers have a `./` entry).
 *
 * `exportRootfs` unpacks into a temporary directory under the store's `cairn/tmp` (the same
 * disk as the blobs, not a tmpfs), walks it with `walkTree` and streams it through the
 * deterministic tar writer: the same image gives the same tar. This is not docker's `export`,
 * which flattens a container; ours flattens an image (a container's export belongs to the
 * container module). Memory stays flat: one file is streamed at a time.
 */
import { createReadStream } from 'node:fs';
import { lstat, lutimes, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/index.js';
import { CairnError, errnoCode } from '../errors.js';
import { readConfig } from '../image/list.js';
import { resolveImage, type ResolvedImage } from '../image/resolve.js';
import type { Descriptor, Platform } from '../oci/index.js';
import type { Store } from '../store/store.js';
import { packTar, scanLayer, type TarEntry } from '../tar/index.js';
import { applyLayer, type ApplyOptions, type ApplyWarning } from './apply.js';
import { walkTree } from './walk.js';

export interface UnpackOptions {
  /** The platform to pick when the reference names an index (default: this host's). */
  platform?: Platform;
  /** Skip owners and device nodes (default: true unless running as root). */
  rootless?: boolean;
  onWarning?: (warning: ApplyWarning) => void;
  /** Called before each layer is applied (1-based `index` of `count`). */
  onLayer?: (layer: { index: number; count: number; digest: Digest; size: number }) => void;
  /** Sees each entry of each layer in archive order (a layer indexer can ride along). */
  onEntry?: (layer: number, entry: TarEntry) => void;
}

export interface UnpackedLayer {
  digest: Digest;
  diffId: Digest;
  entries: number;
  /** Uncompressed tar size. */
  size: number;
}

export interface UnpackResult {
  image: ResolvedImage;
  layers: UnpackedLayer[];
  warnings: ApplyWarning[];
}

/** Makes `dir` an empty directory; returns whether we created it. */
async function prepareTarget(dir: string): Promise<boolean> {
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) {
      throw new CairnError('already-exists', `${dir} exists and is not a directory`, { path: dir });
    }
    if ((await readdir(dir)).length > 0) {
      throw new CairnError('already-exists', `${dir} is not empty: unpack needs a new or empty directory`, { path: dir });
    }
    return false;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o755 });
  return true;
}

async function clearTarget(dir: string, created: boolean): Promise<void> {
  if (created) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Unpacks the image `imageRef` (tag, digest or ID in `store`) into `dir`, which must not exist
 * or be empty.
 *
 * @throws CairnError 'digest-mismatch' naming the layer when a blob or its uncompressed tar is
 *   not what the manifest and config say; 'already-exists' when `dir` is not empty; the
 *   applier's errors ('invalid-archive' ...) for a malicious or broken layer. On any error the
 *   partial tree is removed.
 * @example
 * const { layers } = await unpack(store, 'busybox:latest', '/tmp/bundle/rootfs');
 */
export async function unpack(store: Store, imageRef: string, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const image = await resolveImage(store, imageRef, options.platform ? { platform: options.platform } : {});
  const config = await readConfig(store, image);
  const diffIds = config.rootfs.diff_ids;
  const layers = image.manifest.layers;
  if (diffIds.length !== layers.length) {
    throw new CairnError(
      'invalid-document',
      `image ${imageRef}: the manifest lists ${layers.length} layers but the config ${diffIds.length} diff_ids`,
      { reference: imageRef },
    );
  }
  const target = path.resolve(dir);
  const created = await prepareTarget(target);
  // Most images carry no entry for the root: start it at the epoch, as umoci does, so its
  // mtime does not depend on when the unpack ran (a `./` entry still sets its own).
  await lutimes(target, 0, 0);
  const warnings: ApplyWarning[] = [];
  const done: UnpackedLayer[] = [];
  try {
    for (const [i, layer] of layers.entries()) {
      const what = `layer ${i + 1} of ${layers.length} (${layer.digest})`;
      options.onLayer?.({ index: i + 1, count: layers.length, digest: layer.digest, size: layer.size });
      const diffId = diffIds[i] as Digest;
      const scanned = await applyVerifiedLayer(store, layer, diffId, target, {
        what,
        ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
        onWarning: (w: ApplyWarning) => {
          warnings.push(w);
          options.onWarning?.(w);
        },
        ...(options.onEntry ? { onEntry: (e: TarEntry) => options.onEntry?.(i, e) } : {}),
      });
      done.push({ digest: layer.digest, diffId, entries: scanned.entries, size: scanned.size });
    }
  } catch (err) {
    await clearTarget(target, created);
    throw err;
  }
  return { image, layers: done, warnings };
}

/**
 * Applies one layer blob to `target` and checks, in the same pass, that the blob hashes to its
 * descriptor's digest and its tar to `diffId`. Shared by `unpack` and the container module's
 * per-chainID layer directories.
 *
 * @throws CairnError 'digest-mismatch' naming the layer (the target is left as far as it got).
 */
export async function applyVerifiedLayer(
  store: Store,
  layer: Descriptor,
  diffId: Digest,
  target: string,
  options: ApplyOptions,
): Promise<{ entries: number; size: number }> {
  const what = options.what;
  const scanned = await scanLayer(await store.blobs.open(layer.digest), { what, consume: (tar) => applyLayer(target, tar, options) });
  if (scanned.digest !== layer.digest) {
    throw new CairnError('digest-mismatch', `${what}: the blob hashes to ${scanned.digest}`, { what, expected: layer.digest, actual: scanned.digest });
  }
  if (scanned.diffId !== diffId) {
    throw new CairnError('digest-mismatch', `${what}: its uncompressed content hashes to ${scanned.diffId}, but the config's diff_id is ${diffId}`, {
      what,
      expected: diffId,
      actual: scanned.diffId,
    });
  }
  return { entries: scanned.value?.entries ?? 0, size: scanned.size };
}

export interface ExportOptions extends UnpackOptions {
  /** SOURCE_DATE_EPOCH: clamp mtimes in the output. */
  clampMtime?: Date;
  /** Where to unpack temporarily (default: the store's `cairn/tmp`). */
  tmpDir?: string;
  /** End `output` when the tar is complete (default true; false for a process's stdout). */
  end?: boolean;
}

/**
 * Writes the flattened root filesystem of `imageRef` as one deterministic tar to `output`.
 *
 * @example
 * await exportRootfs(store, 'busybox:latest', createWriteStream('rootfs.tar'));
 */
export async function exportRootfs(store: Store, imageRef: string, output: Writable, options: ExportOptions = {}): Promise<UnpackResult> {
  let tmpBase = options.tmpDir;
  if (tmpBase === undefined) {
    await store.prepare();
    tmpBase = store.paths.tmp;
  }
  const work = await mkdtemp(path.join(tmpBase, 'export-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    const result = await unpack(store, imageRef, rootfs, options);
    const items = (async function* () {
      for await (const { entry, source } of walkTree(rootfs)) {
        yield source === undefined ? { entry } : { entry, body: createReadStream(source) };
      }
    })();
    await pipeline(packTar(items, options.clampMtime ? { clampMtime: options.clampMtime } : {}), output, {
      end: options.end ?? true,
    });
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
