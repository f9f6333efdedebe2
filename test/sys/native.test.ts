// cairn's addon through its typed wrappers (sys/xattr, sys/mknod): values round-trip as bytes,
// sizes past the addon's first buffer, and the Node-style errors callers branch on (ENOENT
// naming the path, ENODATA for a missing attribute, EEXIST) against a real ext4/tmpfs file.
import { lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mknod, splitDev } from '../../src/sys/mknod.js';
import { native } from '../../src/sys/native.js';
import { getXattr, listXattrs, readXattrs, removeXattr, setXattr } from '../../src/sys/xattr.js';
import { removeDir, tempDir } from '../support/images.js';
import { thrown } from '../support/errors.js';

const asRoot = process.getuid?.() === 0;
let dir: string;
let file: string;

beforeEach(async () => {
  dir = await tempDir('cairn-native-');
  file = path.join(dir, 'file');
  await writeFile(file, 'x');
});

afterEach(async () => {
  await removeDir(dir);
});

describe('xattrs', () => {
  it('round-trips values as bytes, small and past the first buffer, and lists every name', () => {
    const small = new Uint8Array([0, 1, 2, 255]);
    const large = Buffer.alloc(3000, 7);
    setXattr(file, 'user.small', small);
    setXattr(file, 'user.large', large);
    setXattr(file, 'user.empty', new Uint8Array(0));
    // ext4 lists attributes stored in the inode before those in an external block.
    expect(listXattrs(file).sort()).toEqual(['user.empty', 'user.large', 'user.small']);
    expect(getXattr(file, 'user.small')).toEqual(Buffer.from(small));
    expect(getXattr(file, 'user.large')).toEqual(large);
    expect(getXattr(file, 'user.empty')).toEqual(Buffer.alloc(0));
    expect(Object.keys(readXattrs(file)).sort()).toEqual(['user.empty', 'user.large', 'user.small']);
  });

  it('writes only the bytes a Uint8Array view covers', () => {
    const bytes = Buffer.from('--value--');
    setXattr(file, 'user.view', bytes.subarray(2, 7));
    expect(getXattr(file, 'user.view')?.toString()).toBe('value');
  });

  it('acts on a symlink itself, not its target', async () => {
    const link = path.join(dir, 'link');
    await symlink('file', link);
    setXattr(file, 'user.target', Buffer.from('t'));
    expect(getXattr(link, 'user.target')).toBeUndefined();
    expect(listXattrs(link)).toEqual([]);
  });

  it('answers a missing attribute with ENODATA, which the wrappers treat as absent', () => {
    expect(native().lgetxattr(file, 'user.missing')).toBe(-constants.errno.ENODATA);
    expect(getXattr(file, 'user.missing')).toBeUndefined();
    expect(() => removeXattr(file, 'user.missing')).not.toThrow();
    setXattr(file, 'user.gone', Buffer.from('1'));
    removeXattr(file, 'user.gone');
    expect(listXattrs(file)).toEqual([]);
  });

  it('throws ENOENT naming the missing path, from every call', () => {
    const missing = path.join(dir, 'missing');
    const calls: [string, () => unknown][] = [
      ['lgetxattr', () => getXattr(missing, 'user.a')],
      ['lsetxattr', () => setXattr(missing, 'user.a', Buffer.from('1'))],
      ['llistxattr', () => listXattrs(missing)],
      ['lremovexattr', () => removeXattr(missing, 'user.a')],
    ];
    for (const [syscall, call] of calls) {
      const err = thrown(call);
      expect(err).toMatchObject({ code: 'ENOENT', syscall, path: missing, errno: -constants.errno.ENOENT });
      expect(err.message).toBe(`ENOENT: ${syscall} failed on ${missing}`);
    }
  });

  it('rejects a name outside the known namespaces with ENOTSUP, as Node names it', () => {
    expect(thrown(() => setXattr(file, 'bogus.name', Buffer.from('1')))).toMatchObject({ code: 'ENOTSUP', path: file });
  });

  it('refuses a path with a NUL byte instead of acting on a shorter path', () => {
    const err = thrown(() => setXattr(`${file}\0.evil`, 'user.a', Buffer.from('1')));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(listXattrs(file)).toEqual([]);
  });
});

describe('mknod', () => {
  it('makes a fifo', async () => {
    const fifo = path.join(dir, 'fifo');
    mknod(fifo, 'fifo', 0o644);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it.skipIf(!asRoot)('makes character and block devices with their numbers, and whiteouts', async () => {
    mknod(path.join(dir, 'null'), 'char', 0o666, 1, 3);
    mknod(path.join(dir, 'big'), 'block', 0o600, 259, 300_000);
    mknod(path.join(dir, '.gone'), 'char', 0, 0, 0);
    const nul = await lstat(path.join(dir, 'null'));
    const big = await lstat(path.join(dir, 'big'));
    const whiteout = await lstat(path.join(dir, '.gone'));
    expect(nul.isCharacterDevice() && splitDev(nul.rdev)).toEqual({ major: 1, minor: 3 });
    expect(big.isBlockDevice() && splitDev(big.rdev)).toEqual({ major: 259, minor: 300_000 });
    expect(whiteout.isCharacterDevice() && whiteout.rdev).toBe(0);
  });

  it('throws EEXIST and ENOENT naming the path', async () => {
    expect(thrown(() => mknod(file, 'fifo', 0o644))).toMatchObject({ code: 'EEXIST', syscall: 'mknod', path: file });
    const orphan = path.join(dir, 'no-such-dir', 'fifo');
    const err = thrown(() => mknod(orphan, 'fifo', 0o644));
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'mknod', path: orphan });
    expect(err.message).toContain(orphan);
    await mkdir(path.join(dir, 'no-such-dir'));
    mknod(orphan, 'fifo', 0o644);
  });
});
