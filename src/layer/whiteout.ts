/**
 * @module layer/whiteout
 * Whiteouts in their two forms, and pure converters between them (design §3, §6):
 *
 * - OCI form (image-spec layer.md), inside layer tars: an entry `dir/.wh.NAME` deletes NAME of
 *   the lower layers; `dir/.wh..wh..opq` makes `dir` opaque (hides every lower child of dir).
 *   `.wh.` on a non-final component is an ordinary name. A whiteout whose target is empty, `.`
 *   or `..` (`.wh.`, `.wh..`, `.wh...`) would name the directory itself or its parent: it is
 *   invalid, and an error naming the layer and the entry (containerd's `validateWhiteout`).
 *   Other `.wh..wh.*` names (AUFS metadata such as `.wh..wh.plnk`) name a path no layer can
 *   hold; applying one is a no-op, as in containerd.
 * - Kernel overlay form, inside an overlayfs upper directory: a character device 0:0 at the
 *   deleted path, and the xattr `trusted.overlay.opaque=y` (`user.overlay.opaque` on
 *   `userxattr` mounts) on an opaque directory. A layer's own `trusted.overlay.*` xattrs are
 *   escaped as `trusted.overlay.overlay.*` on disk (the kernel's nesting scheme, also umoci's),
 *   so a layer can never forge a whiteout or an opaque marker.
 *
 * Nothing here touches the filesystem.
 */
import { CairnError } from '../errors.js';
import type { TarEntryInit } from '../tar/index.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** The xattr namespaces overlayfs reads its own attributes from. */
export type OverlayXattrPrefix = 'trusted.overlay.' | 'user.overlay.';
export const TRUSTED_OVERLAY: OverlayXattrPrefix = 'trusted.overlay.';

/** What a layer entry's path means. `dir` is the cleaned parent path (`''` for the root). */
export type WhiteoutInfo =
  | { kind: 'whiteout'; dir: string; name: string }
  | { kind: 'opaque'; dir: string };

function split(path: string): { dir: string; base: string } {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? { dir: '', base: path } : { dir: path.slice(0, slash), base: path.slice(slash + 1) };
}

/**
 * Classifies a cleaned entry path: a whiteout, an opaque marker, or undefined for an ordinary
 * entry.
 *
 * @throws CairnError 'invalid-archive' naming `what` (the layer) and the entry, for `.wh.`,
 *   `.wh..` and `.wh...`.
 * @example
 * parseWhiteout('etc/.wh.passwd', 'layer 1') // { kind: 'whiteout', dir: 'etc', name: 'passwd' }
 * parseWhiteout('usr/.wh..wh..opq', 'layer 1') // { kind: 'opaque', dir: 'usr' }
 */
export function parseWhiteout(path: string, what: string): WhiteoutInfo | undefined {
  const { dir, base } = split(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque', dir };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new CairnError('invalid-archive', `${what}: invalid whiteout entry "${path}" (it would delete "${name || '(nothing)'}" of its own directory)`, {
      what,
      path,
    });
  }
  return { kind: 'whiteout', dir, name };
}

/** The OCI whiteout entry path that deletes `path`. @example whiteoutPathFor('etc/passwd') // 'etc/.wh.passwd' */
export function whiteoutPathFor(path: string): string {
  const { dir, base } = split(path);
  return dir === '' ? `${WHITEOUT_PREFIX}${base}` : `${dir}/${WHITEOUT_PREFIX}${base}`;
}

/** The opaque marker entry path for directory `dir` (`''` or `.` for the root). */
export function opaquePathFor(dir: string): string {
  return dir === '' || dir === '.' ? OPAQUE_WHITEOUT : `${dir}/${OPAQUE_WHITEOUT}`;
}

/**
 * An OCI whiteout tar entry, as containerd writes them: an empty regular file, owner 0:0,
 * mode 0, mtime the epoch (so a diff's digest does not depend on when it ran).
 */
export function whiteoutEntry(path: string): TarEntryInit {
  return { path, type: 'file', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0 };
}

/** An overlay whiteout: a character device 0:0. */
export function isOverlayWhiteout(entry: { type: string; devmajor?: number; devminor?: number }): boolean {
  return entry.type === 'char' && (entry.devmajor ?? 0) === 0 && (entry.devminor ?? 0) === 0;
}

/** Whether on-disk xattrs mark a directory opaque (`trusted.` or `user.` namespace). */
export function isOverlayOpaque(xattrs: Readonly<Record<string, Uint8Array>>): boolean {
  for (const prefix of ['trusted.overlay.', 'user.overlay.'] as const) {
    const v = xattrs[`${prefix}opaque`];
    if (v !== undefined && v.length === 1 && v[0] === 0x79 /* y */) return true;
  }
  return false;
}

/**
 * A layer xattr name as it must be stored in an overlay upper: `P.X` → `P.overlay.X` for the
 * overlay namespace P, so overlayfs reads it back as the layer's own `P.X`. Others unchanged.
 */
export function escapeOverlayXattr(name: string, prefix: OverlayXattrPrefix = TRUSTED_OVERLAY): string {
  return name.startsWith(prefix) ? `${prefix}overlay.${name.slice(prefix.length)}` : name;
}

/**
 * The layer xattr an on-disk upper xattr stands for: `P.overlay.X` → `P.X`; overlayfs' own
 * attributes (`P.opaque`, `P.origin`, `P.redirect`, ...) → undefined (not layer content).
 */
export function unescapeOverlayXattr(name: string, prefix: OverlayXattrPrefix = TRUSTED_OVERLAY): string | undefined {
  if (!name.startsWith(prefix)) return name;
  const rest = name.slice(prefix.length);
  return rest.startsWith('overlay.') ? `${prefix}${rest.slice('overlay.'.length)}` : undefined;
}

/** An entry as read from an overlay upper directory (what a directory walker reports). */
export type OverlayEntry = TarEntryInit & { xattrs?: Readonly<Record<string, Uint8Array>> };

/**
 * Converts one entry of an overlay upper directory into the OCI layer entries it stands for:
 * a 0:0 character device → its `.wh.` whiteout; an opaque directory → the directory (without
 * overlay attributes) followed by its `.wh..wh..opq` marker; anything else → itself, with
 * overlayfs' attributes dropped and escaped ones unescaped. Pure: the diff writer maps a walk
 * of an upper dir through this (the marker sorts after the directory and before its children).
 *
 * @example
 * overlayToOci({ path: 'etc/gone', type: 'char', devmajor: 0, devminor: 0 }) // [whiteoutEntry('etc/.wh.gone')]
 */
export function overlayToOci(entry: OverlayEntry, prefix: OverlayXattrPrefix = TRUSTED_OVERLAY): TarEntryInit[] {
  if (isOverlayWhiteout(entry)) return [whiteoutEntry(whiteoutPathFor(entry.path))];
  const xattrs: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(entry.xattrs ?? {})) {
    const layerName = unescapeOverlayXattr(name, prefix);
    if (layerName !== undefined) xattrs[layerName] = value;
  }
  const converted: TarEntryInit = { ...entry, xattrs };
  if (entry.type === 'directory' && isOverlayOpaque(entry.xattrs ?? {})) {
    return [converted, whiteoutEntry(opaquePathFor(entry.path))];
  }
  return [converted];
}

/** What the applier does with an OCI whiteout in overlay mode (the other direction). */
export type OverlayAction =
  | { kind: 'mknod-whiteout'; path: string }
  | { kind: 'set-opaque'; dir: string; xattr: string; value: Uint8Array };

/**
 * The overlay-form change one OCI whiteout stands for.
 *
 * @example
 * ociToOverlay({ kind: 'opaque', dir: 'usr' }) // { kind: 'set-opaque', dir: 'usr', xattr: 'trusted.overlay.opaque', value: 'y' }
 */
export function ociToOverlay(whiteout: WhiteoutInfo, prefix: OverlayXattrPrefix = TRUSTED_OVERLAY): OverlayAction {
  if (whiteout.kind === 'opaque') {
    return { kind: 'set-opaque', dir: whiteout.dir, xattr: `${prefix}opaque`, value: Buffer.from('y') };
  }
  const path = whiteout.dir === '' ? whiteout.name : `${whiteout.dir}/${whiteout.name}`;
  return { kind: 'mknod-whiteout', path };
}
