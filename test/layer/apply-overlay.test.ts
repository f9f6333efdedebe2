// Overlay form (design §6): applying with `whiteouts: 'overlay'` writes 0:0 devices and opaque
// xattrs instead of deleting; the pure converters between the two forms; walking an upper dir
// back into OCI entries; and, as root, a real kernel overlay mount of the layer dirs giving the
// same tree as applying the layers with deletions.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/layer/apply.js';
import { walkTree } from '../../src/layer/walk.js';
import {
  escapeOverlayXattr,
  ociToOverlay,
  overlayToOci,
  parseWhiteout,
  unescapeOverlayXattr,
  whiteoutEntry,
} from '../../src/layer/whiteout.js';
import { getXattr } from '../../src/sys/xattr.js';
import { packTar } from '../../src/tar/index.js';
import { device, dir, file, hostileTar, symlink, type HostileEntry } from '../support/hostile-tar.js';
import { removeDir, tempDir } from '../support/images.js';
import { listTree, treeManifest } from './tree-manifest.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
let base: string;

beforeEach(async () => {
  base = await tempDir('cairn-overlay-');
});

afterEach(async () => {
  await removeDir(base);
});

async function fresh(name: string): Promise<string> {
  const d = path.join(base, name);
  await mkdir(d, { recursive: true });
  return d;
}

const tar = (entries: HostileEntry[]): Readable => Readable.from([hostileTar(entries)]);

describe('converters (pure)', () => {
  it('parseWhiteout classifies and validates', () => {
    expect(parseWhiteout('etc/.wh.passwd', 'l')).toEqual({ kind: 'whiteout', dir: 'etc', name: 'passwd' });
    expect(parseWhiteout('.wh..wh..opq', 'l')).toEqual({ kind: 'opaque', dir: '' });
    expect(parseWhiteout('.wh.etc/x', 'l')).toBeUndefined();
    expect(() => parseWhiteout('a/.wh..', 'l')).toThrow(/invalid whiteout/);
  });

  it('OCI → overlay and back', () => {
    expect(ociToOverlay({ kind: 'whiteout', dir: 'a', name: 'b' })).toEqual({ kind: 'mknod-whiteout', path: 'a/b' });
    expect(ociToOverlay({ kind: 'opaque', dir: 'a' }, 'user.overlay.')).toMatchObject({ kind: 'set-opaque', dir: 'a', xattr: 'user.overlay.opaque' });
    expect(overlayToOci({ path: 'a/b', type: 'char', devmajor: 0, devminor: 0 })).toEqual([whiteoutEntry('a/.wh.b')]);
    expect(overlayToOci({ path: 'a/n', type: 'char', devmajor: 1, devminor: 3 })).toHaveLength(1);
    const opaque = overlayToOci({
      path: 'd',
      type: 'directory',
      xattrs: { 'trusted.overlay.opaque': Buffer.from('y'), 'trusted.overlay.origin': Buffer.from('x'), 'trusted.overlay.overlay.mine': Buffer.from('1'), 'user.a': Buffer.from('2') },
    });
    expect(opaque).toEqual([
      { path: 'd', type: 'directory', xattrs: { 'trusted.overlay.mine': Buffer.from('1'), 'user.a': Buffer.from('2') } },
      whiteoutEntry('d/.wh..wh..opq'),
    ]);
    expect(escapeOverlayXattr('trusted.overlay.opaque')).toBe('trusted.overlay.overlay.opaque');
    expect(unescapeOverlayXattr('trusted.overlay.overlay.opaque')).toBe('trusted.overlay.opaque');
    expect(unescapeOverlayXattr('trusted.overlay.redirect')).toBeUndefined();
    expect(escapeOverlayXattr('user.x')).toBe('user.x');
  });
});

const LOWER: HostileEntry[] = [
  dir('etc'),
  file('etc/passwd', 'root'),
  file('etc/shadow', 'x'),
  dir('opq'),
  file('opq/a', 'a'),
  dir('opq/sub'),
  file('opq/sub/b', 'b'),
  dir('gone'),
  file('gone/c', 'c'),
  dir('redo'),
  file('redo/old', 'old'),
  dir('usr'),
  dir('usr/bin'),
  symlink('bin', 'usr/bin'),
];
const UPPER: HostileEntry[] = [
  dir('etc'),
  file('etc/.wh.shadow', ''),
  file('etc/new', 'n'),
  dir('opq'),
  file('opq/.wh..wh..opq', ''),
  file('opq/z', 'z'),
  file('.wh.gone', ''),
  file('.wh.redo', ''),
  dir('redo'),
  file('redo/new', 'new'),
  dir('usr'),
  dir('usr/bin'),
  file('usr/bin/tool', 't'),
];

describe.skipIf(!asRoot)('overlay mode (as root: trusted.overlay.* and 0:0 devices)', () => {
  it('writes whiteout devices and opaque xattrs, escapes the layer own trusted.overlay.* xattrs', async () => {
    const upper = await fresh('upper');
    const warnings: string[] = [];
    await applyLayer(
      upper,
      tar([...UPPER, file('etc/forged', 'f', 0o644, { xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } }), device('dev/zero-zero', 'char', 0, 0)]),
      { what: 'upper', whiteouts: 'overlay', onWarning: (w) => warnings.push(w.path) },
    );
    const shadow = await lstat(path.join(upper, 'etc/shadow'));
    expect(shadow.isCharacterDevice() && shadow.rdev === 0).toBe(true);
    expect((await lstat(path.join(upper, 'gone'))).isCharacterDevice()).toBe(true);
    expect(getXattr(path.join(upper, 'opq'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    // `.wh.redo` plus a new `redo/`: the directory replaces the lower one, so it is opaque.
    expect(getXattr(path.join(upper, 'redo'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(getXattr(path.join(upper, 'etc'), 'trusted.overlay.opaque')).toBeUndefined();
    expect(getXattr(path.join(upper, 'etc/forged'), 'trusted.overlay.opaque')).toBeUndefined();
    expect(getXattr(path.join(upper, 'etc/forged'), 'trusted.overlay.overlay.opaque')?.toString()).toBe('y');
    expect(warnings).toEqual(['dev/zero-zero']);
  });

  it('walking the upper gives back the OCI layer: applied with deletions it equals the original', async () => {
    const upper = await fresh('upper');
    await applyLayer(upper, tar(UPPER), { what: 'upper', whiteouts: 'overlay' });
    const items = [];
    for await (const item of walkTree(upper, { overlay: 'trusted.overlay.' })) items.push(item);
    const names = items.map((i) => i.entry.path);
    expect(names).toContain('etc/.wh.shadow');
    expect(names).toContain('opq/.wh..wh..opq');
    expect(names).toContain('.wh.gone');
    expect(names).toContain('redo/.wh..wh..opq');
    const roundTrip = packTar(
      (async function* () {
        for (const { entry, source } of items) yield source ? { entry, body: await readFile(source) } : { entry };
      })(),
    );
    const a = await fresh('a');
    const b = await fresh('b');
    for (const target of [a, b]) await applyLayer(target, tar(LOWER), { what: 'lower' });
    await applyLayer(a, tar(UPPER), { what: 'upper' });
    await applyLayer(b, roundTrip, { what: 'round trip' });
    expect(await listTree(b)).toEqual(await listTree(a));
  });

  it('implied parents copy their metadata from the lower layers (parents option)', async () => {
    const lower = await fresh('lower');
    await applyLayer(lower, tar([dir('etc', 0o750, { uid: 5, gid: 6, mtime: 1_234_567_890 })]), { what: 'lower' });
    const upper = await fresh('upper');
    await applyLayer(upper, tar([file('etc/new', 'n')]), { what: 'upper', whiteouts: 'overlay', parents: [lower] });
    const st = await lstat(path.join(upper, 'etc'));
    expect([st.mode & 0o7777, st.uid, st.gid, st.mtimeMs]).toEqual([0o750, 5, 6, 1_234_567_890_000]);
  });

  it('a kernel overlay mount of the layer dirs equals applying the layers with deletions', async (ctx) => {
    const lower = await fresh('lower');
    const upper = await fresh('upper');
    await applyLayer(lower, tar(LOWER), { what: 'lower', whiteouts: 'overlay' });
    await applyLayer(upper, tar(UPPER), { what: 'upper', whiteouts: 'overlay', parents: [lower] });
    const merged = await fresh('merged');
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${lower}`, merged]);
    } catch (err) {
      ctx.skip(`cannot mount overlayfs here: ${String(err)}`);
    }
    try {
      const expected = await fresh('expected');
      await applyLayer(expected, tar(LOWER), { what: 'lower' });
      await applyLayer(expected, tar(UPPER), { what: 'upper' });
      // Everything but the mount point itself: paths, types, modes, owners, contents, mtimes, xattrs.
      const tree = async (d: string): Promise<unknown[]> => (await treeManifest(d, { mtimes: true })).filter((r) => r.path !== '.');
      expect(await tree(merged)).toEqual(await tree(expected));
    } finally {
      await run('umount', [merged]);
    }
  });
});
