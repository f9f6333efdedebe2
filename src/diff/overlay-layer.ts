/**
 * @module diff/overlay-layer
 * `layerFromOverlayUpper`: an overlay upper directory as a layer tar, as it is (what `commit`
 * stores): the upper's own whiteouts and opaque markers in OCI form (`src/layer/walk.ts` does
 * the conversion). `overlayUpperTar`: the same tar, as bytes when it is small.
 */
import { closeSync, constants, createReadStream, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { walkTree } from '../layer/walk.js';
import { parseWhiteout, type OverlayXattrPrefix } from '../layer/whiteout.js';
// The tar modules themselves, not the tar index: it would load node:child_process (archive-compression) too.
import { packTar, packTarSmall, type TarBody, type TarInput } from '../tar/write.js';
import type { UnionView } from '../union/view.js';
import { asOverlayLower, type OverlayLower } from './overlay-lower.js';

export interface OverlayLayerOptions {
  /** SOURCE_DATE_EPOCH: no entry is newer than this. */
  clampMtime?: Date;
  /** The overlay xattr namespace of the mount (default 'trusted.overlay.'). */
  xattrPrefix?: OverlayXattrPrefix;
  /** The lower image: whiteouts of paths it does not have are left out. */
  lower?: UnionView | OverlayLower;
}

/**
 * Files up to this size are read in one synchronous call: a read stream (or a promise-based read)
 * costs more to set up than the read itself (see sys/atomic).
 */
const WHOLE_FILE_BYTES = 64 * 1024;

/**
 * A file's content for the tar writer (which fails the layer if it is not `size` bytes). A small
 * file is read at once, with O_NOFOLLOW (the walk lstat-ed a regular file; a symlink swapped in
 * since is refused); a bigger one streams when the writer gets to it.
 */
function fileBody(file: string, size: number): TarBody {
  if (size === 0) return new Uint8Array(0);
  if (size <= WHOLE_FILE_BYTES) {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  return createReadStream(file);
}

/**
 * The upper directory of an overlay mount as an OCI layer tar (uncompressed, deterministic:
 * sorted entries, numeric owners, PAX where needed): 0:0 devices become `.wh.NAME`, opaque
 * directories get `.wh..wh..opq`, overlayfs' own xattrs are dropped, hardlinks inside the upper
 * stay hardlinks. What `commit` stores.
 *
 * @example
 * const draft2 = await appendLayer(store, draft, layerFromOverlayUpper(upper, { clampMtime }));
 */
export function layerFromOverlayUpper(upperDir: string, options: OverlayLayerOptions = {}): Readable {
  return packTar(upperItems(upperDir, options), options.clampMtime ? { clampMtime: options.clampMtime } : {});
}

/**
 * The layer tar of `layerFromOverlayUpper`, as bytes when the upper holds at most `limit` bytes
 * of small files (a commit of a few changed files), built in memory without a stream; as that
 * stream otherwise.
 *
 * @example
 * const layer = await writeLayer(store, await overlayUpperTar(upper, 256 * 1024));
 */
export function overlayUpperTar(upperDir: string, limit: number, options: OverlayLayerOptions = {}): Promise<Uint8Array | Readable> {
  return packTarSmall(upperItems(upperDir, options), limit, options.clampMtime ? { clampMtime: options.clampMtime } : {});
}

/** The upper's entries in OCI form, whiteouts of what the lower lacks left out, with their contents. */
async function* upperItems(upperDir: string, options: OverlayLayerOptions): AsyncGenerator<TarInput> {
  const lower = options.lower && asOverlayLower(options.lower);
  const root = path.resolve(upperDir);
  for await (const { entry, source } of walkTree(root, { overlay: options.xattrPrefix ?? 'trusted.overlay.', root: false })) {
    const whiteout = parseWhiteout(entry.path, 'upper');
    if (whiteout) {
      const target = whiteout.kind === 'opaque' ? undefined : whiteout.dir === '' ? whiteout.name : `${whiteout.dir}/${whiteout.name}`;
      if (lower && target !== undefined && (await lower.entry(target)) === undefined) continue;
      yield { entry };
      continue;
    }
    yield source !== undefined && entry.type === 'file' ? { entry, body: fileBody(source, entry.size ?? 0) } : { entry };
  }
}
