// The union view's merge rules on synthetic layer indexes: moby's whiteout sequence, the
// scoped resolver against continuity's rootpath cases, containerd's breakout cases that apply
// (symlinked parents, hardlinks, whiteouts through links, invalid whiteouts), the symlinked
// `/bin` rule of design §5, opaque directories in any order, and the writable upper.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import type { LayerIndexEntry } from '../../src/layer/layer-index.js';
import { mergeLayer } from '../../src/union/merge.js';
import { newRoot, resolve, type TreeNode } from '../../src/union/tree.js';
import { MemoryUpper } from '../../src/union/upper.js';
import { UnionView } from '../../src/union/view.js';
import { conformancePath, hasShared } from '../support/shared.js';
import { indexEntry as e, indexOf } from './layers.js';

const S = (path: string, linkname: string): LayerIndexEntry => e(path, { type: 'symlink', linkname });
const H = (path: string, linkname: string): LayerIndexEntry => e(path, { type: 'hardlink', linkname });
const F = (path: string, size = 1, tag = 0): LayerIndexEntry => e(path, { size, offset: tag * 512 });

async function view(...layers: (string | LayerIndexEntry)[][]): Promise<UnionView> {
  return UnionView.fromLayers(layers.map((l, i) => ({ index: indexOf(l, i) })));
}

/** `path/` for directories, `path -> target` for symlinks, as a sorted walk. */
function listing(v: UnionView): string[] {
  return [...v.walk()].map(({ path, stat }) =>
    stat.type === 'directory' ? `${path}/` : stat.type === 'symlink' ? `${path} -> ${stat.linkname}` : path,
  );
}

describe.skipIf(!hasShared)('moby whiteout sequence (whiteout-sequence.json)', () => {
  const spec = JSON.parse(readFileSync(conformancePath('moby-go-archive/whiteout-sequence.json'), 'utf8')) as {
    layers: { layer: string[]; expected: string[] }[];
  };
  it('after each layer, the merged listing equals the expected one', async () => {
    for (let n = 1; n <= spec.layers.length; n++) {
      const v = await view(...spec.layers.slice(0, n).map((l) => l.layer));
      expect(listing(v), `after layer ${n}`).toEqual(spec.layers[n - 1]?.expected);
    }
  });
});

describe.skipIf(!hasShared)('scoped resolution (continuity rootpath.json)', () => {
  const spec = JSON.parse(readFileSync(conformancePath('continuity/rootpath.json'), 'utf8')) as {
    cases: { name: string; symlinks: [string, string][]; dirs?: string[]; scope: string; path: string; expected?: string; error?: string }[];
  };
  for (const c of spec.cases) {
    it(c.name, () => {
      // Build the tree the way the fixture is made: links created through earlier links.
      const root = newRoot();
      const layer = [...(c.dirs ?? []).map((d) => `${d}/`), ...c.symlinks.map(([p, t]) => S(p, t))];
      mergeLayer(root, indexOf(layer), 0);
      let scopeRoot: TreeNode = root;
      if (c.scope !== '') {
        const scoped = resolve(root, c.scope, true);
        if (!scoped.node) {
          // The scope does not exist yet: resolving inside it only sees what is below it.
          scopeRoot = newRoot();
        } else scopeRoot = scoped.node;
      }
      if (c.error) {
        let caught: unknown;
        try {
          resolve(scopeRoot, c.path, true);
        } catch (err) {
          caught = err;
        }
        expect(isCairnError(caught) && caught.data.errno).toBe('ELOOP');
      } else {
        expect(resolve(scopeRoot, c.path, true).parts.join('/')).toBe(c.expected);
      }
    });
  }
});

describe('containerd apply cases (CASES.md §1), on the merged tree', () => {
  const same = (v: UnionView, a: string, b: string): void => {
    expect(v.lstat(a).type).toBe('file');
    expect(v.lstat(a).nlink).toBeGreaterThan(1);
    expect(v.lstat(a).nlink).toBe(v.lstat(b).nlink);
  };
  it('1-5: entries under absolute, relative and chained symlinks land inside the root', async () => {
    expect((await view(['etc/', S('localetc', '/etc'), F('localetc/unbroken')])).lstat('etc/unbroken').type).toBe('file');
    expect((await view(['etc/', 'dummy/', S('localetc', '/dummy/../etc'), F('localetc/unbroken')])).exists('etc/unbroken')).toBe(true);
    expect((await view(['etc/', 'dummy/', S('dummy/etc', '/etc'), S('localetc', '/dummy/etc'), F('dummy/etc/unbroken')])).exists('etc/unbroken')).toBe(true);
    expect((await view(['etc/', 'dummy/', S('dummy/etc', '/etc'), S('localetc', './dummy/etc'), F('dummy/etc/unbroken')])).exists('etc/unbroken')).toBe(true);
    const v5 = await view(['etc/', F('etc/emptied', 8), S('localetc', '/etc'), F('localetc/emptied', 0)]);
    expect(v5.lstat('etc/emptied').size).toBe(0);
  });
  it('6-12: hardlink targets resolve inside the root and share the inode', async () => {
    same(await view(['etc/', F('etc/passwd'), 'breakouts/', S('breakouts/d1', '../../etc'), H('breakouts/mypasswd', 'breakouts/d1/passwd')]), 'breakouts/mypasswd', 'etc/passwd');
    same(await view(['etc/', F('etc/passwd'), S('localetc', '/etc'), H('localpasswd', 'localetc/passwd')]), 'localpasswd', 'etc/passwd');
    same(await view(['etc/', F('etc/passwd'), S('localetc', '../../../../../../../etc'), H('localpasswd', 'localetc/passwd')]), 'localpasswd', 'etc/passwd');
    same(await view(['etc/', F('etc/passwd'), H('localpasswd', '../../../../../etc/passwd')]), 'localpasswd', 'etc/passwd');
  });
  it('13-16: names that clean to the root are ignored; trailing slashes are fine', async () => {
    const v = await view(['etc/', F('etc/passwd'), S('..', '/etc/'), H('localpasswd', 'etc/passwd')]);
    same(v, 'localpasswd', 'etc/passwd');
    expect(v.lstat('/').type).toBe('directory');
    const v15 = await view(['etc/', F('etc/passwd'), S('localetc', '/etc/'), H('localetc/localpasswd', 'etc/passwd')]);
    same(v15, 'etc/localpasswd', 'etc/passwd');
  });
  it('17-20: a symlink replaces a directory and a directory replaces a symlink', async () => {
    const v17 = await view(['etc/', F('etc/passwd'), 'localetc/'], [S('localetc', '/etc'), H('localetc/localpasswd', 'etc/passwd')]);
    expect(v17.lstat('localetc').type).toBe('symlink');
    same(v17, 'etc/localpasswd', 'etc/passwd');
    const v19 = await view(['etc/', F('etc/passwd'), S('localetc', '/etc')], ['localetc/', H('localetc/localpasswd', 'etc/passwd')]);
    expect(v19.lstat('localetc').type).toBe('directory');
    same(v19, 'localetc/localpasswd', 'etc/passwd');
    const v20 = await view(['etc/', F('etc/passwd', 1, 1), S('localetc', 'etc'), H('localetc/localpasswd', 'etc/passwd')], ['localetc/', F('localetc/localpasswd', 9, 2)]);
    expect(v20.lstat('localetc/localpasswd')).toMatchObject({ size: 9, nlink: 1 });
    expect(v20.lstat('etc/passwd')).toMatchObject({ size: 1, nlink: 2 });
  });
  it('21-24: invalid whiteout names fail with invalid-archive', async () => {
    for (const bad of ['.wh...', 'etc/.wh...', '.wh..', 'etc/.wh..', '.wh.']) {
      const err = await view(['etc/'], [bad]).catch((x: unknown) => x);
      expect(isCairnError(err, 'invalid-archive'), bad).toBe(true);
    }
  });
  it('25-29: whiteouts of symlinks, through symlinks, of dead links, and `.wh.` directory names', async () => {
    const lower = ['etc/', F('etc/passwd'), F('etc/whitedout'), S('localetc', '/etc')];
    const v25 = await view(lower, ['.wh.localetc']);
    expect(v25.exists('localetc', false)).toBe(false);
    expect(v25.exists('etc/passwd')).toBe(true);
    const v26 = await view(lower, ['localetc/.wh.whitedout']);
    expect(listing(v26)).toEqual(['etc/', 'etc/passwd', 'localetc -> /etc']);
    const v27 = await view(lower, [F('.wh.etc/somefile')]);
    expect(v27.lstat('.wh.etc/somefile').type).toBe('file');
    expect(v27.exists('etc/passwd')).toBe(true);
    const v28 = await view(['etc/', F('etc/passwd'), S('localetc', '/dne')], ['localetc/.wh.etc']);
    expect(v28.exists('etc/passwd')).toBe(true);
    const v29 = await view(['etc/', F('etc/passwd')], ['dne/../.wh.etc'.replace('dne/../', '')]);
    expect(v29.exists('etc')).toBe(false);
  });
  it('30: a directory entry replaces a symlink to / again; nothing escapes', async () => {
    const v = await view(['foo/', 'foo/tmp/', F('foo/tmp/x', 3, 1), S('foo', '/'), F('foo/tmp/x', 3, 2), 'foo/', 'foo/tmp/', F('foo/tmp/x', 3, 3)]);
    expect(v.lstat('foo').type).toBe('directory');
    expect(v.stat('foo/tmp/x').origin).toBe(0);
    expect(listing(v)).toEqual(['foo/', 'foo/tmp/', 'foo/tmp/x', 'tmp/', 'tmp/x']);
  });
  it('31-33: a hardlink to a symlink is the symlink', async () => {
    const v = await view(['etc/', S('localpasswd', '/etc/passwd'), H('localpasswd-dup', 'localpasswd'), F('etc/passwd')]);
    expect(v.lstat('localpasswd-dup')).toMatchObject({ type: 'symlink', linkname: '/etc/passwd', nlink: 2 });
    expect(v.stat('localpasswd-dup').type).toBe('file');
  });
  it('a hardlink to nothing, or to a directory, fails with invalid-archive', async () => {
    for (const layer of [[H('a', 'missing')], ['d/', H('a', 'd')]]) {
      expect(isCairnError(await view(layer).catch((x: unknown) => x), 'invalid-archive')).toBe(true);
    }
  });
});

describe('design §5 and the OCI whiteout rules', () => {
  it("a later layer's bin/foo lands in usr/bin/foo when bin -> usr/bin", async () => {
    const v = await view(['usr/', 'usr/bin/', F('usr/bin/sh'), S('bin', 'usr/bin')], ['bin/', F('bin/foo')]);
    // `bin/` as a directory entry replaces the symlink (containerd: a dir over a non-dir).
    expect(v.lstat('bin').type).toBe('directory');
    const v2 = await view(['usr/', 'usr/bin/', F('usr/bin/sh'), S('bin', 'usr/bin')], [F('bin/foo')]);
    expect(listing(v2)).toEqual(['bin -> usr/bin', 'usr/', 'usr/bin/', 'usr/bin/foo', 'usr/bin/sh']);
    expect(v2.stat('/bin/foo').origin).toBe(1);
  });

  it('an opaque marker hides lower children, before or after the layer’s own entries', async () => {
    const lower = ['a/', F('a/old'), 'a/sub/', F('a/sub/deep'), F('b')];
    for (const top of [
      ['a/', 'a/.wh..wh..opq', F('a/new'), 'a/sub/', F('a/sub/mine')],
      ['a/', F('a/new'), 'a/sub/', F('a/sub/mine'), 'a/.wh..wh..opq'],
      [F('a/new'), F('a/sub/mine'), 'a/.wh..wh..opq'], // implicit parents are the layer's own
    ]) {
      expect(listing(await view(lower, top))).toEqual(['a/', 'a/new', 'a/sub/', 'a/sub/mine', 'b']);
    }
  });

  it('a whiteout removes only what lower layers had (spec: not the same layer)', async () => {
    expect(listing(await view(['x/', F('x/y')], [F('x/z'), 'x/.wh.z', 'x/.wh.y']))).toEqual(['x/', 'x/z']);
    expect(listing(await view([F('k')], ['.wh.k', F('k', 5)]))).toEqual(['k']);
    // `.wh.d` for a directory the layer also wrote: the layer's part stays, the lower part goes.
    expect(listing(await view(['d/', F('d/old')], ['d/', F('d/new'), '.wh.d']))).toEqual(['d/', 'd/new']);
  });

  it('a whiteout creates nothing: no parents for a missing directory', async () => {
    expect(listing(await view([F('a')], ['no/such/.wh.x', 'gone/.wh..wh..opq', 'a/.wh.x']))).toEqual(['a']);
  });

  it('the root entry ./ sets the root directory metadata', async () => {
    const v = await view([e('./', { mode: 0o700, uid: 5, mtime: 1000 }), F('x')]);
    expect(v.stat('/')).toMatchObject({ mode: 0o700, uid: 5, origin: 0 });
  });

  it("re-sending a directory merges it: new metadata and xattrs (umoci's rule), old children", async () => {
    const v = await view(
      [e('d/', { mode: 0o700, uid: 1, xattrs: { 'user.a': new Uint8Array([1]) } }), F('d/keep')],
      [e('d/', { mode: 0o751, uid: 2, mtime: 5000, xattrs: { 'user.b': new Uint8Array([2]) } })],
    );
    expect(v.stat('d')).toMatchObject({ mode: 0o751, uid: 2, origin: 1 });
    expect(Object.keys(v.stat('d').xattrs)).toEqual(['user.b']);
    expect(v.readdir('d')).toEqual(['keep']);
  });

  it('duplicates in one layer: the last one wins; a file over a directory replaces it', async () => {
    expect((await view([F('a', 1), F('a', 7)])).stat('a').size).toBe(7);
    expect(listing(await view(['d/', F('d/x')], [F('d', 2)]))).toEqual(['d']);
  });

  it('stat follows links, lstat does not; readdir, readlink and errors carry errno', async () => {
    const v = await view(['usr/', 'usr/lib/', F('usr/lib/libc.so', 10), S('lib', '/usr/lib'), S('loop', 'loop')]);
    expect(v.stat('/lib/libc.so').size).toBe(10);
    expect(v.lstat('/lib').type).toBe('symlink');
    expect(v.stat('/lib').type).toBe('directory');
    expect(v.readdir('/lib')).toEqual(['libc.so']);
    expect(v.readlink('lib')).toBe('/usr/lib');
    const errno = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return isCairnError(err) ? err.data.errno : err;
      }
      return undefined;
    };
    expect(errno(() => v.stat('/nope'))).toBe('ENOENT');
    expect(errno(() => v.stat('/usr/lib/libc.so/x'))).toBe('ENOTDIR');
    expect(errno(() => v.readdir('/usr/lib/libc.so'))).toBe('ENOTDIR');
    expect(errno(() => v.readlink('/usr'))).toBe('EINVAL');
    expect(errno(() => v.stat('/loop'))).toBe('ELOOP');
    expect([...v.walk('/lib')].map((w) => w.path)).toEqual(['usr/lib/libc.so']);
  });
});

describe('the writable upper (overlay form)', () => {
  it('whiteouts delete, opaque dirs hide, dirs merge, files replace; hardlinks share', async () => {
    const upper = new MemoryUpper([
      { path: 'etc', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: 'etc/passwd', type: 'char', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 0, devminor: 0, whiteout: true },
      { path: 'etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3, content: Buffer.from('new'), inode: 7 },
      { path: 'etc/motd2', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3, inode: 7 },
      { path: 'opt', type: 'directory', mode: 0o700, uid: 0, gid: 0, mtime: 0, size: 0, opaque: true },
      { path: 'opt/only', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: 'lib', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    ]);
    const v = await UnionView.fromLayers(
      [{ index: indexOf(['etc/', F('etc/passwd'), F('etc/motd'), F('etc/hosts'), 'opt/', F('opt/old'), 'usr/', 'usr/lib/', S('lib', 'usr/lib')]) }],
      { upper },
    );
    expect(listing(v)).toEqual(['etc/', 'etc/hosts', 'etc/motd', 'etc/motd2', 'lib/', 'opt/', 'opt/only', 'usr/', 'usr/lib/']);
    expect(v.stat('etc/motd')).toMatchObject({ origin: 'upper', nlink: 2 });
    expect((await v.readFile('etc/motd2')).toString()).toBe('new');
    expect(v.stat('etc/hosts').origin).toBe(0);
  });
});
