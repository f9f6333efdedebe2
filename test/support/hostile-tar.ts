/**
 * A small builder of hostile layer tars, after containerd's `pkg/archive/tartest`: entry names
 * and link targets are written byte for byte as given (absolute, `..`, empty, trailing `/`),
 * which cairn's own writer would clean. Long or non-ASCII names go into a PAX `path` record;
 * xattrs into `SCHILY.xattr.*`.
 *
 * @example
 * const tar = hostileTar([dir('etc', 0o755), symlink('localetc', '/etc'), file('/localetc/unbroken', 'unbroken')]);
 * await applyLayer(root, Readable.from([tar]), { what: 'hostile' });
 *
 * @module
 */
import { BLOCK, encodeHeader, encodePax, encodePaxHeader, padding } from '../../src/tar/header.js';

export type HostileEntry =
  | { type: 'dir'; name: string; mode: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Uint8Array> }
  | { type: 'file'; name: string; content: Uint8Array; mode: number; uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Uint8Array> }
  | { type: 'symlink'; name: string; target: string; uid?: number; gid?: number; mtime?: number }
  | { type: 'hardlink'; name: string; target: string }
  | { type: 'char' | 'block'; name: string; major: number; minor: number; mode: number }
  | { type: 'fifo'; name: string; mode: number };

export const dir = (name: string, mode = 0o755, extra: { uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Uint8Array> } = {}): HostileEntry => ({
  type: 'dir',
  name,
  mode,
  ...extra,
});

export const file = (
  name: string,
  content: string | Uint8Array = '',
  mode = 0o644,
  extra: { uid?: number; gid?: number; mtime?: number; xattrs?: Record<string, Uint8Array> } = {},
): HostileEntry => ({ type: 'file', name, content: typeof content === 'string' ? Buffer.from(content) : content, mode, ...extra });

export const symlink = (name: string, target: string, extra: { uid?: number; gid?: number; mtime?: number } = {}): HostileEntry => ({
  type: 'symlink',
  name,
  target,
  ...extra,
});

export const link = (name: string, target: string): HostileEntry => ({ type: 'hardlink', name, target });

export const device = (name: string, type: 'char' | 'block', major: number, minor: number, mode = 0o666): HostileEntry => ({
  type,
  name,
  major,
  minor,
  mode,
});

export const fifo = (name: string, mode = 0o644): HostileEntry => ({ type: 'fifo', name, mode });

const TYPEFLAG = { dir: '5', file: '0', symlink: '2', hardlink: '1', char: '3', block: '4', fifo: '6' } as const;

function fits(value: string): Buffer | undefined {
  const bytes = Buffer.from(value, 'utf8');
  return bytes.length <= 100 && /^[\x00-\x7f]*$/.test(value) ? bytes : undefined;
}

/** The tar bytes for `entries`, in order, with an end-of-archive footer. */
export function hostileTar(entries: readonly HostileEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = e.type === 'file' ? Buffer.from(e.content) : Buffer.alloc(0);
    const linkname = e.type === 'symlink' || e.type === 'hardlink' ? e.target : '';
    const pax: [string, Uint8Array | string][] = [];
    const nameField = fits(e.name);
    if (nameField === undefined) pax.push(['path', e.name]);
    const linkField = fits(linkname);
    if (linkField === undefined) pax.push(['linkpath', linkname]);
    const xattrs = 'xattrs' in e && e.xattrs ? e.xattrs : {};
    for (const [k, v] of Object.entries(xattrs)) pax.push([`SCHILY.xattr.${k}`, v]);
    if (pax.length > 0) {
      const records = encodePax(pax);
      parts.push(encodePaxHeader(Buffer.from('PaxHeaders/x'), records.length), records, Buffer.alloc(padding(records.length)));
    }
    parts.push(
      encodeHeader({
        name: nameField ?? Buffer.from(e.name.slice(0, 100).replace(/[^\x00-\x7f]/g, '_')),
        mode: 'mode' in e ? e.mode : 0o777,
        uid: 'uid' in e ? (e.uid ?? 0) : 0,
        gid: 'gid' in e ? (e.gid ?? 0) : 0,
        size: content.length,
        mtime: 'mtime' in e ? (e.mtime ?? 1_700_000_000) : 1_700_000_000,
        typeflag: TYPEFLAG[e.type],
        linkname: linkField ?? Buffer.alloc(0),
        devmajor: e.type === 'char' || e.type === 'block' ? e.major : 0,
        devminor: e.type === 'char' || e.type === 'block' ? e.minor : 0,
      }),
      content,
      Buffer.alloc(padding(content.length)),
    );
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
