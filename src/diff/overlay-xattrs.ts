/**
 * @module diff/overlay-xattrs
 * Extended attributes of entries in overlay directories (a container's upper, an unpacked
 * layer's directory): read raw, with overlayfs' bookkeeping still in, then reduced to the
 * entry's own attributes as a layer records them.
 */
import { errnoCode } from '../errors.js';
import { FORBIDDEN_XATTRS } from '../layer/apply-meta.js';
import { unescapeOverlayXattr, type OverlayXattrPrefix } from '../layer/whiteout.js';
import { readXattrs } from '../sys/xattr.js';

/** Every xattr on `file` itself (overlay bookkeeping included); {} where none can be read. */
export function rawXattrs(file: string): Record<string, Uint8Array> {
  if (process.platform !== 'linux') return {};
  try {
    return readXattrs(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM' || code === 'EACCES') return {};
    throw err;
  }
}

/** The layer's own xattrs: overlayfs' attributes dropped, escaped ones unescaped, host ones left out. */
export function layerXattrs(raw: Readonly<Record<string, Uint8Array>>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of Object.keys(raw).sort()) {
    const prefix: OverlayXattrPrefix | undefined = name.startsWith('trusted.overlay.')
      ? 'trusted.overlay.'
      : name.startsWith('user.overlay.')
        ? 'user.overlay.'
        : undefined;
    const real = prefix ? unescapeOverlayXattr(name, prefix) : name;
    if (real !== undefined && !FORBIDDEN_XATTRS.has(real)) out[real] = raw[name] as Uint8Array;
  }
  return out;
}
