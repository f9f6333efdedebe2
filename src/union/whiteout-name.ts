/**
 * @module union/whiteout-name
 * OCI whiteout names (image-spec layer.md "Whiteouts"): `.wh.<name>` deletes `<name>` from the
 * lower layers, `.wh..wh..opq` makes its directory opaque. Only the last path component is
 * ever a whiteout (`.wh.etc/file` is an ordinary directory named `.wh.etc`: containerd's
 * WhiteoutDirectoryName case). A whiteout whose target is empty, `.` or `..` (`.wh.`, `.wh..`,
 * `.wh...`) would escape its directory: containerd rejects it (errInvalidWhiteout), so do we.
 *
 * A pure helper kept here because `src/layer/whiteout.ts` (the applier's converters) did not
 * exist when the union view was written; if it exports the same parsing, use that instead.
 */
import { CairnError } from '../errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type WhiteoutName =
  | { readonly kind: 'opaque' }
  | { readonly kind: 'whiteout'; /** The name deleted in the same directory. */ readonly target: string };

/**
 * Classifies the last component of an entry path: undefined for an ordinary name. Throws
 * 'invalid-archive' for whiteouts that name nothing, `.` or `..`.
 *
 * @example
 * parseWhiteoutName('.wh.sed') // { kind: 'whiteout', target: 'sed' }
 * parseWhiteoutName('.wh..wh..opq') // { kind: 'opaque' }
 */
export function parseWhiteoutName(base: string, what = 'layer'): WhiteoutName | undefined {
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined;
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new CairnError('invalid-archive', `${what}: invalid whiteout name "${base}"`, { what, name: base });
  }
  return { kind: 'whiteout', target };
}
