// The changeset model and the per-entry rules (src/diff/change.ts, src/diff/compare.ts):
// docker's print form, cairn's path order, the JSON form, and what makes an entry "changed".
import { describe, expect, it } from 'vitest';
import { changeToJSON, formatChanges, sortChanges, type Change, type EntryMeta } from '../../src/diff/change.js';
import { compareEntries, sameTime } from '../../src/diff/compare.js';
import type { Digest } from '../../src/digest/index.js';

const T = 1_700_000_000_000;
const file = (over: Partial<EntryMeta> = {}): EntryMeta => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T + 250, size: 3, ...over });
const sha = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;

describe('the changeset model', () => {
  it("prints docker's form, one line per change", () => {
    const changes: Change[] = [
      { path: '/etc', kind: 'C' },
      { path: '/etc/motd', kind: 'A' },
      { path: '/bin/sed', kind: 'D' },
    ];
    expect(formatChanges(changes)).toBe('C /etc\nA /etc/motd\nD /bin/sed\n');
    expect(formatChanges([])).toBe('');
  });

  it('sorts component by component, in byte order: a directory right before its contents', () => {
    const paths = ['/a-b', '/a/c', '/a', '/B', '/a/b/c', '/ä', '/z', '/a.', '/a/b'];
    expect(sortChanges(paths.map((path) => ({ path }))).map((c) => c.path)).toEqual(['/B', '/a', '/a/b', '/a/b/c', '/a/c', '/a-b', '/a.', '/z', '/ä']);
  });

  it('JSON: old and new metadata, mtime in ISO 8601, xattrs in base64', () => {
    const before = file({ xattrs: { 'user.x': Buffer.from('hi') }, sha256: sha('a') });
    const json = changeToJSON({ path: '/f', kind: 'C', before, after: file({ mode: 0o600 }) });
    expect(json).toEqual({
      path: '/f',
      kind: 'C',
      before: { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: '2023-11-14T22:13:20.250Z', size: 3, xattrs: { 'user.x': 'aGk=' }, sha256: sha('a') },
      after: { type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: '2023-11-14T22:13:20.250Z', size: 3 },
    });
    expect(changeToJSON({ path: '/g', kind: 'D', before: file() })).not.toHaveProperty('after');
  });
});

describe('when an entry is changed (compare.ts)', () => {
  it("times: equal, or moby's sameFsTime (same second, one side without a fraction)", () => {
    expect(sameTime(T + 5, T + 5)).toBe('exact');
    expect(sameTime(T, T + 999)).toBe('truncated');
    expect(sameTime(T + 999, T)).toBe('truncated');
    expect(sameTime(T + 5, T + 6)).toBe(false);
    expect(sameTime(T, T + 1000)).toBe(false);
    expect(sameTime(-1500, -2000)).toBe('truncated'); // before 1970, floor seconds
  });

  it('type, mode (setuid/setgid/sticky included), owner, xattrs, link target, device numbers, size', () => {
    const cases: [string, EntryMeta, EntryMeta][] = [
      ['type', file(), { ...file(), type: 'fifo', size: 0 }],
      ['mode', file(), file({ mode: 0o4644 })],
      ['uid', file(), file({ uid: 1 })],
      ['gid', file(), file({ gid: 1 })],
      ['xattr value', file({ xattrs: { 'user.a': Buffer.from('1') } }), file({ xattrs: { 'user.a': Buffer.from('2') } })],
      ['xattr added', file(), file({ xattrs: { 'security.capability': Buffer.from([1]) } })],
      ['size', file(), file({ size: 4 })],
      ['mtime', file(), file({ mtime: T + 251 })],
      ['symlink target', { ...file(), type: 'symlink', size: 0, linkname: 'a' }, { ...file(), type: 'symlink', size: 0, linkname: 'b' }],
      ['device', { ...file(), type: 'char', size: 0, devmajor: 1, devminor: 3 }, { ...file(), type: 'char', size: 0, devmajor: 1, devminor: 5 }],
      ['directory mtime', { ...file(), type: 'directory', size: 0 }, { ...file(), type: 'directory', size: 0, mtime: T + 5000 }],
    ];
    for (const [what, a, b] of cases) expect(compareEntries(a, b), what).toBe('changed');
  });

  it('not compared: link counts, and which side a hardlink came from', () => {
    expect(compareEntries(file({ nlink: 1 }), file({ nlink: 3, links: ['/a', '/b', '/c'] }))).toBe('same');
  });

  it('contents: digests when both sides know them; read only when a time may have lost its fraction', () => {
    expect(compareEntries(file({ sha256: sha('a') }), file({ sha256: sha('b') }))).toBe('changed');
    expect(compareEntries(file({ sha256: sha('a') }), file({ sha256: sha('a') }))).toBe('same');
    expect(compareEntries(file(), file())).toBe('same'); // same size, same millisecond with a fraction
    expect(compareEntries(file({ mtime: T }), file({ mtime: T }))).toBe('content'); // whole seconds: maybe truncated
    expect(compareEntries(file({ mtime: T }), file({ mtime: T + 400 }))).toBe('content'); // truncated by a tar
    expect(compareEntries(file({ mtime: T, size: 0 }), file({ mtime: T, size: 0 }))).toBe('same'); // empty files
    expect(compareEntries({ ...file(), type: 'directory', size: 0, mtime: T }, { ...file(), type: 'directory', size: 0, mtime: T + 400 })).toBe('same');
  });
});
