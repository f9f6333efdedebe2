// Extraction safety (design §4): containerd's 34 TestBreakouts cases
// (../shared/conformance/containerd/CASES.md §1), each applied to a root that has a sentinel
// directory beside it which must come out byte-for-byte unchanged, and continuity's 21 scoped
// path resolution cases (continuity/rootpath.json).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, link as fsLink, lstat, mkdir, readdir, readFile, readlink, symlink as fsSymlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/errors.js';
import { applyLayer } from '../../src/layer/apply.js';
import { rootPath } from '../../src/layer/scoped-path.js';
import { dir, file, hostileTar, link, symlink, type HostileEntry } from '../support/hostile-tar.js';
import { removeDir, tempDir } from '../support/images.js';
import { conformancePath, hasShared } from '../support/shared.js';

let base: string;
let root: string;
let sentinel: string;

/** Everything about a tree that a breakout could change. */
async function snapshot(top: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    let extra = '';
    if (st.isFile()) extra = createHash('sha256').update(await readFile(abs)).digest('hex');
    if (st.isSymbolicLink()) extra = await readlink(abs);
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${st.nlink} ${extra}`);
    if (st.isDirectory()) for (const name of (await readdir(abs)).sort()) await walk(path.join(abs, name), `${rel}/${name}`);
  };
  await walk(top, '.');
  return out;
}

const R = (...p: string[]): string => path.join(root, ...p);

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([lstat(a), lstat(b)]);
  return x.ino === y.ino && x.dev === y.dev;
}

async function isSymlink(p: string): Promise<boolean> {
  return (await lstat(p)).isSymbolicLink();
}

async function apply(entries: HostileEntry[]): Promise<void> {
  await applyLayer(root, Readable.from([hostileTar(entries)]), { what: 'hostile layer' });
}

beforeEach(async () => {
  base = await tempDir('cairn-breakout-');
  root = path.join(base, 'root');
  sentinel = path.join(base, 'sentinel');
  await mkdir(root);
  await mkdir(path.join(sentinel, 'etc'), { recursive: true });
  await mkdir(path.join(sentinel, 'tmp'));
  await writeFile(path.join(sentinel, 'etc', 'passwd'), 'host passwd\n');
  await writeFile(path.join(sentinel, 'perm400'), 'secret\n', { mode: 0o400 });
  await chmod(path.join(sentinel, 'perm400'), 0o400);
  await writeFile(path.join(sentinel, 'also-exists-outside-root'), 'outside\n');
});

afterEach(async () => {
  await removeDir(base);
});

interface BreakoutCase {
  name: string;
  pre?: () => Promise<void>;
  entries: () => HostileEntry[];
  check?: () => Promise<void>;
  /** The apply must fail with invalid-archive. */
  invalid?: true;
}

const passwdPre = async (content = 'all users'): Promise<void> => {
  await mkdir(R('etc'));
  await writeFile(R('etc', 'passwd'), content);
};
const expectSame = async (a: string, b: string): Promise<void> => expect(await sameFile(R(a), R(b))).toBe(true);
const expectRead = async (p: string, content: string): Promise<void> => expect(await readFile(R(p), 'utf8')).toBe(content);
const breakoutName = `breakout-${randomBytes(4).toString('hex')}`;

const CASES: BreakoutCase[] = [
  {
    name: '01 SymlinkAbsolute',
    entries: () => [dir('etc', 0o755), symlink('localetc', '/etc'), file('/localetc/unbroken', 'unbroken')],
    check: () => expectRead('etc/unbroken', 'unbroken'),
  },
  {
    name: '02 SymlinkUpAndOut',
    entries: () => [dir('etc'), dir('dummy'), symlink('localetc', '/dummy/../etc'), file('/localetc/unbroken', 'unbroken')],
    check: () => expectRead('etc/unbroken', 'unbroken'),
  },
  {
    name: '03 SymlinkMultipleAbsolute',
    entries: () => [dir('etc'), dir('dummy'), symlink('/dummy/etc', '/etc'), symlink('localetc', '/dummy/etc'), file('/dummy/etc/unbroken', 'unbroken')],
    check: () => expectRead('etc/unbroken', 'unbroken'),
  },
  {
    name: '04 SymlinkMultipleRelative',
    entries: () => [dir('etc'), dir('dummy'), symlink('/dummy/etc', '/etc'), symlink('localetc', './dummy/etc'), file('/dummy/etc/unbroken', 'unbroken')],
    check: () => expectRead('etc/unbroken', 'unbroken'),
  },
  {
    name: '05 SymlinkEmptyFile',
    entries: () => [dir('etc'), file('etc/emptied', 'notempty'), symlink('localetc', '/etc'), file('/localetc/emptied', '')],
    check: () => expectRead('etc/emptied', ''),
  },
  {
    name: '06 HardlinkRelative',
    entries: () => [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      dir('breakouts'),
      symlink('breakouts/d1', '../../etc'),
      link('breakouts/mypasswd', '/breakouts/d1/passwd'),
    ],
    check: () => expectSame('breakouts/mypasswd', 'etc/passwd'),
  },
  {
    name: '07 HardlinkDownAndOut',
    entries: () => [
      dir('etc', 0o770),
      file('/etc/passwd', 'inside'),
      dir('breakouts'),
      dir('downandout'),
      symlink('breakouts/d1', '../downandout/../../etc'),
      link('breakouts/mypasswd', '/breakouts/d1/passwd'),
    ],
    check: () => expectSame('breakouts/mypasswd', 'etc/passwd'),
  },
  ...(
    [
      ['08 HardlinkAbsolute', '/etc'],
      ['09 HardlinkRelativeLong', '../../../../../../../etc'],
      ['10 HardlinkRelativeUpAndOut', 'upandout/../../../etc'],
    ] as const
  ).map(([name, target]) => ({
    name,
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), symlink('localetc', target), link('localpasswd', '/localetc/passwd')],
    check: () => expectSame('localpasswd', 'etc/passwd'),
  })),
  {
    name: '11 HardlinkDirectRelative',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), link('localpasswd', '../../../../../etc/passwd')],
    check: () => expectSame('localpasswd', 'etc/passwd'),
  },
  {
    name: '12 HardlinkDirectAbsolute',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), link('localpasswd', '/etc/passwd')],
    check: () => expectSame('localpasswd', 'etc/passwd'),
  },
  {
    name: '13 SymlinkParentDirectory',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), symlink('..', '/etc/'), link('localpasswd', '/etc/passwd')],
    check: async () => {
      await expectSame('localpasswd', 'etc/passwd');
      expect((await lstat(root)).isDirectory()).toBe(true);
    },
  },
  {
    name: '14 SymlinkEmptyFilename',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), symlink('', '/etc/'), link('localpasswd', '/etc/passwd')],
    check: async () => {
      await expectSame('localpasswd', 'etc/passwd');
      expect((await lstat(root)).isDirectory()).toBe(true);
    },
  },
  {
    name: '15 SymlinkParentRelative',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), symlink('localetc/sub/..', '/etc/'), link('/localetc/localpasswd', '/etc/passwd')],
    check: async () => {
      expect(await isSymlink(R('localetc'))).toBe(true);
      await expectSame('etc/localpasswd', 'etc/passwd');
    },
  },
  {
    name: '16 SymlinkSlashEnded',
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), dir('localetc/'), link('/localetc/localpasswd', '/etc/passwd')],
    check: () => expectSame('localetc/localpasswd', 'etc/passwd'),
  },
  ...(
    [
      ['17 SymlinkOverrideDirectory', '/etc'],
      ['18 SymlinkOverrideDirectoryRelative', '../../etc'],
    ] as const
  ).map(([name, target]) => ({
    name,
    pre: async () => {
      await passwdPre('inside');
      await mkdir(R('localetc'));
    },
    entries: () => [symlink('localetc', target), link('/localetc/localpasswd', '/etc/passwd')],
    check: async () => {
      expect(await isSymlink(R('localetc'))).toBe(true);
      await expectSame('etc/localpasswd', 'etc/passwd');
    },
  })),
  {
    name: '19 DirectoryOverrideSymlink',
    pre: async () => {
      await passwdPre('inside');
      await fsSymlink('/etc', R('localetc'));
    },
    entries: () => [dir('/localetc/', 0o755), link('/localetc/localpasswd', '/etc/passwd')],
    check: async () => {
      expect((await lstat(R('localetc'))).isDirectory()).toBe(true);
      await expectSame('localetc/localpasswd', 'etc/passwd');
    },
  },
  {
    name: '20 DirectoryOverrideSymlinkAndHardlink',
    pre: async () => {
      await passwdPre('inside');
      await fsSymlink('etc', R('localetc'));
      await fsLink(R('etc', 'passwd'), R('localetc', 'localpasswd'));
    },
    entries: () => [dir('/localetc/'), file('/localetc/localpasswd', 'different')],
    check: async () => {
      expect((await lstat(R('localetc'))).isDirectory()).toBe(true);
      await expectRead('localetc/localpasswd', 'different');
      expect(await sameFile(R('localetc/localpasswd'), R('etc/passwd'))).toBe(false);
      await expectRead('etc/passwd', 'inside');
    },
  },
  ...(
    [
      ['21 WhiteoutRootParent', '.wh...'],
      ['22 WhiteoutParent', 'etc/.wh...'],
      ['23 WhiteoutRoot', '.wh..'],
      ['24 WhiteoutCurrentDirectory', 'etc/.wh..'],
    ] as const
  ).map(([name, entry]) => ({
    name,
    pre: () => passwdPre(),
    entries: () => [file(entry, '')],
    invalid: true as const,
    check: () => expectRead('etc/passwd', 'all users'),
  })),
  {
    name: '25 WhiteoutSymlink',
    pre: async () => {
      await passwdPre();
      await fsSymlink('/etc', R('localetc'));
    },
    entries: () => [file('.wh.localetc', '')],
    check: async () => {
      expect(existsSync(R('localetc'))).toBe(false);
      await expectRead('etc/passwd', 'all users');
    },
  },
  {
    name: '26 WhiteoutSymlinkPath',
    pre: async () => {
      await passwdPre();
      await writeFile(R('etc', 'whitedout'), 'ignored');
      await fsSymlink('/etc', R('localetc'));
    },
    entries: () => [file('localetc/.wh.whitedout', '')],
    check: async () => {
      expect(existsSync(R('etc/whitedout'))).toBe(false);
      await expectRead('etc/passwd', 'all users');
    },
  },
  {
    name: '27 WhiteoutDirectoryName',
    pre: async () => {
      await passwdPre();
      await writeFile(R('etc', 'whitedout'), 'ignored');
      await fsSymlink('/etc', R('localetc'));
    },
    entries: () => [file('.wh.etc/somefile', 'non-empty')],
    check: async () => {
      await expectRead('.wh.etc/somefile', 'non-empty');
      await expectRead('etc/passwd', 'all users');
    },
  },
  {
    name: '28 WhiteoutDeadSymlinkParent',
    pre: async () => {
      await passwdPre();
      await fsSymlink('/dne', R('localetc'));
    },
    entries: () => [file('localetc/.wh.etc', '')],
    check: async () => {
      await expectRead('etc/passwd', 'all users');
      expect(existsSync(R('dne'))).toBe(false); // a whiteout never creates its parent
    },
  },
  {
    name: '29 WhiteoutRelativePath',
    pre: async () => {
      await passwdPre();
      await fsSymlink('/dne', R('localetc'));
    },
    entries: () => [file('dne/../.wh.etc', '')],
    check: async () => expect(existsSync(R('etc'))).toBe(false),
  },
  {
    name: '30 SymlinkOverridePath',
    entries: () => [
      dir('foo'),
      dir('foo/tmp'),
      file(`foo/tmp/${breakoutName}`, Buffer.from([0, 1, 2])),
      symlink('foo', '/'),
      file(`foo/tmp/${breakoutName}`, Buffer.from([3, 4, 5])),
      dir('foo'),
      dir('foo/tmp'),
      file(`foo/tmp/${breakoutName}`, Buffer.from([6, 7, 8])),
    ],
    check: async () => {
      expect(existsSync(path.join('/tmp', breakoutName))).toBe(false);
      expect([...(await readFile(R('foo', 'tmp', breakoutName)))]).toEqual([6, 7, 8]);
      expect([...(await readFile(R('tmp', breakoutName)))]).toEqual([3, 4, 5]); // through the link, inside the root
    },
  },
  {
    name: '31 HardlinkSymlinkBeforeCreateTarget',
    entries: () => [dir('etc'), symlink('localpasswd', '/etc/passwd'), link('localpasswd-dup', 'localpasswd'), file('/etc/passwd', 'after')],
    check: async () => {
      expect(await isSymlink(R('localpasswd-dup'))).toBe(true);
      await expectSame('localpasswd-dup', 'localpasswd');
      expect(await readFile(await rootPath(root, 'localpasswd-dup'), 'utf8')).toBe('after');
    },
  },
  ...(
    [
      ['32 HardlinkSymlinkRelative', '../../../../../etc/passwd'],
      ['33 HardlinkSymlinkAbsolute', '/etc/passwd'],
    ] as const
  ).map(([name, target]) => ({
    name,
    entries: () => [dir('etc'), file('/etc/passwd', 'inside'), symlink('passwdlink', target), link('localpasswd', '/passwdlink')],
    check: async () => {
      expect(await isSymlink(R('localpasswd'))).toBe(true);
      expect(await readlink(R('localpasswd'))).toBe(target);
      expect(await rootPath(root, 'localpasswd')).toBe(R('etc', 'passwd'));
    },
  })),
  {
    name: '34 HardlinkSymlinkChmod',
    entries: () => [
      symlink(path.join(sentinel, 'also-exists-outside-root'), path.join(sentinel, 'perm400')),
      link('sketchylink', path.join(sentinel, 'also-exists-outside-root')),
    ],
    check: async () => {
      expect((await lstat(path.join(sentinel, 'perm400'))).mode & 0o7777).toBe(0o400);
      expect(await isSymlink(R('sketchylink'))).toBe(true);
      await expectSame('sketchylink', path.relative(root, path.join(root, sentinel, 'also-exists-outside-root')));
    },
  },
];

describe('containerd TestBreakouts (CASES.md §1)', () => {
  it('has all 34 cases', () => {
    expect(CASES).toHaveLength(34);
  });

  // Past its first 64 new inodes a layer's files, directories and links are made on the file
  // worker: the same cases, with the hostile entries coming after 65 harmless files.
  const padding = (): HostileEntry[] => [dir('zz-padding'), ...Array.from({ length: 65 }, (_, i) => file(`zz-padding/${i}`, `${i}`))];

  it.each(CASES.flatMap((c) => [[c.name, c, false], [`${c.name} (file worker)`, c, true]] as const))('%s', async (_name, c, worker) => {
    await c.pre?.();
    const before = await snapshot(sentinel);
    const entries = worker ? [...padding(), ...c.entries()] : c.entries();
    if (c.invalid) {
      const err = await apply(entries).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isCairnError(err, 'invalid-archive')).toBe(true);
      expect(String((err as Error).message)).toContain('hostile layer');
    } else {
      await apply(entries);
    }
    await c.check?.();
    expect(await snapshot(sentinel)).toEqual(before);
    for (const host of ['/etc/unbroken', '/etc/localpasswd', '/localetc', '/localpasswd', '/breakouts', '/dummy']) {
      expect(existsSync(host), host).toBe(false);
    }
  });
});

describe('times and modes set after the layer never go through a later symlink', () => {
  // A union-view property test found this (test/union/property.test.ts): directory times were
  // set at the end of the layer through an ancestor the same layer had replaced by a symlink.
  const cases: [string, () => HostileEntry[], Partial<{ rootless: boolean }>][] = [
    ['a directory entry under a parent replaced by an absolute symlink', () => [dir('a'), dir('a/b', 0o755, { mtime: 1_000 }), symlink('a', sentinel)], {}],
    ['a rootless read-only directory under a replaced parent', () => [dir('a'), dir('a/b', 0o555, { mtime: 1_000 }), symlink('a', sentinel)], { rootless: true }],
    ['a lower directory whose old times were recorded', () => [file('low/b/new', 'n'), symlink('low', sentinel)], {}],
  ];
  it.each(cases)('%s', async (_name, entries, options) => {
    await mkdir(R('low/b'), { recursive: true });
    await mkdir(path.join(sentinel, 'b'));
    const before = await snapshot(sentinel);
    await applyLayer(root, Readable.from([hostileTar(entries())]), { what: 'hostile layer', ...options });
    expect(await snapshot(sentinel)).toEqual(before);
  });
});

interface RootPathCase {
  name: string;
  symlinks: [string, string][];
  dirs?: string[];
  scope: string;
  path: string;
  expected?: string;
  error?: string;
}

const rootpathCases: RootPathCase[] = hasShared
  ? (JSON.parse(readFileSync(conformancePath('continuity/rootpath.json'), 'utf8')) as { cases: RootPathCase[] }).cases
  : [];

describe.skipIf(!hasShared)('continuity RootPath (rootpath.json)', () => {
  it('has all 21 cases', () => {
    expect(rootpathCases).toHaveLength(21);
  });

  it.each(rootpathCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const t = path.join(base, 'rp');
    await mkdir(t);
    for (const d of c.dirs ?? []) await mkdir(path.join(t, d), { recursive: true });
    for (const [name, target] of c.symlinks) {
      // Parents made as plain directories, through links already made (as the OS would).
      await mkdir(path.dirname(path.join(t, name)), { recursive: true });
      await fsSymlink(target, path.join(t, name));
    }
    const scope = path.join(t, c.scope);
    // The same walk with the thread pool's lookups and with synchronous ones (container start).
    for (const synchronous of [false, true]) {
      if (c.error !== undefined) {
        await expect(rootPath(scope, c.path, { synchronous })).rejects.toThrow(c.error);
      } else {
        expect(await rootPath(scope, c.path, { synchronous })).toBe(c.expected === '' ? scope : path.join(scope, c.expected as string));
      }
    }
  });

  it('the empty path is the root', async () => {
    expect(await rootPath(root, '')).toBe(root);
  });
});
