/**
 * `.dockerignore`: reading (docker's `ignorefile.ReadAll`), matching (moby/patternmatcher's
 * `MatchesOrParentMatches`, its own test table, plus Go's `filepath.Match` table for syntax),
 * and what a build's COPY sees of a context (walk with exceptions under excluded directories).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanSlashPath, IgnoreMatcher, readDockerignore } from '../../src/build/dockerignore.js';
import { DiskTree, walkSource } from '../../src/build/sources.js';
import { isCairnError } from '../../src/errors.js';

describe('readDockerignore', () => {
  it('drops comments (column 0 only) and blank lines, trims, cleans, strips a leading /', () => {
    const text = '# comment\n\n  *.log  \n/build/\n./dist//x/\n!  keep.log\n  # not a comment\n\ufeffnope\n';
    expect(readDockerignore(`\ufeff${text}`)).toEqual(['*.log', 'build', 'dist/x', '!keep.log', '# not a comment', '\ufeffnope']);
  });

  it('keeps ! alone (the matcher rejects it) and handles CRLF', () => {
    expect(readDockerignore('a\r\n!\r\n/\r\n')).toEqual(['a', '!', '/']);
  });

  it('cleans like Go path.Clean', () => {
    expect(cleanSlashPath('a/../b/./c/')).toBe('b/c');
    expect(cleanSlashPath('../x')).toBe('../x');
    expect(cleanSlashPath('/../x')).toBe('/x');
    expect(cleanSlashPath('')).toBe('.');
  });
});

/** moby/patternmatcher TestMatches (MatchesOrParentMatches with one pattern; the text as given). */
const MATCHES: readonly [string, string, boolean][] = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', '/', true],
  ['**/', '/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\*b', 'a*b', true],
];

const MULTI: readonly [string[], string, boolean][] = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  // fileutils tests: order and folder exceptions
  [['!fileutils.go', '*.go'], 'fileutils.go', true],
  [['*.go', '!fileutils.go'], 'fileutils.go', false],
  [['docs', '!docs/README.md'], 'docs/README.md', false],
  [['docs/', '!docs/README.md'], 'docs/README.md', false],
  [['docs/*', '!docs/README.md'], 'docs/README.md', false],
  [['*'], 'fileutils.go', true],
  [[], 'any/path/there', false],
];

/** Go's filepath.Match table (via patternmatcher's Matches, which cleans the path). */
const GO_MATCH: readonly [string, string, boolean | 'bad'][] = [
  ['abc', 'abc', true],
  ['*', 'abc', true],
  ['*c', 'abc', true],
  ['a*', 'a', true],
  ['a*', 'abc', true],
  ['a*', 'ab/c', true],
  ['a*/b', 'abc/b', true],
  ['a*/b', 'a/c/b', false],
  ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
  ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
  ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
  ['a*b?c*x', 'abxbbxdbxebxczzx', true],
  ['a*b?c*x', 'abxbbxdbxebxczzy', false],
  ['ab[c]', 'abc', true],
  ['ab[b-d]', 'abc', true],
  ['ab[e-g]', 'abc', false],
  ['ab[^c]', 'abc', false],
  ['ab[^b-d]', 'abc', false],
  ['ab[^e-g]', 'abc', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'ab', false],
  ['a?b', 'a☺b', true],
  ['a[^a]b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a[^a][^a][^a]b', 'a☺b', false],
  ['[a-ζ]*', 'α', true],
  ['*[a-ζ]', 'A', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
  ['[\\]a]', ']', true],
  ['[\\-]', '-', true],
  ['[x\\-]', 'x', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[\\-x]', 'x', true],
  ['[\\-x]', '-', true],
  ['[\\-x]', 'a', false],
  ['[]a]', ']', 'bad'],
  ['[-]', '-', 'bad'],
  ['[x-]', 'x', 'bad'],
  ['[-x]', 'x', 'bad'],
  ['\\', 'a', 'bad'],
  ['[a-b-c]', 'a', 'bad'],
  ['[', 'a', 'bad'],
  ['[^', 'a', 'bad'],
  ['[^bc', 'a', 'bad'],
  ['a[', 'a', 'bad'],
  ['*x', 'xxx', true],
];

describe('IgnoreMatcher (patternmatcher)', () => {
  it.each(MATCHES)('pattern %j, path %j → %s', (pattern, text, expected) => {
    expect(IgnoreMatcher.from([pattern]).excludes(text)).toBe(expected);
  });

  it.each(MULTI)('patterns %j, path %j → %s', (patterns, text, expected) => {
    expect(IgnoreMatcher.from(patterns).excludes(text)).toBe(expected);
  });

  it.each(GO_MATCH)('Go filepath.Match %j on %j → %s', (pattern, text, expected) => {
    if (expected === 'bad') {
      let err: unknown;
      try {
        IgnoreMatcher.from([pattern]);
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, 'invalid-argument'), `${pattern} must be rejected`).toBe(true);
      return;
    }
    expect(IgnoreMatcher.from([pattern]).excludes(cleanSlashPath(text))).toBe(expected);
  });

  it('rejects a lone !, and never excludes the context root', () => {
    expect(() => IgnoreMatcher.from(['!'])).toThrow(/illegal exclusion pattern/);
    expect(IgnoreMatcher.from(['*']).excludes('.')).toBe(false);
    expect(IgnoreMatcher.from(['**']).excludes('')).toBe(false);
  });

  it('knows when an excluded directory may hold exceptions', () => {
    const m = IgnoreMatcher.from(['stuff', '!stuff/huge/usr/bin/*', 'node_modules']);
    expect(m.ignoredDirMayHaveExceptions('stuff')).toBe(true);
    expect(m.ignoredDirMayHaveExceptions('stuff/huge')).toBe(true);
    expect(m.ignoredDirMayHaveExceptions('stuff/other')).toBe(false);
    expect(m.ignoredDirMayHaveExceptions('node_modules')).toBe(false);
    expect(IgnoreMatcher.from(['*', '!**/keep']).ignoredDirMayHaveExceptions('deep/dir')).toBe(true);
  });
});

describe('what COPY sees of a context', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'cairn-dockerignore-'));
    const files = [
      'Dockerfile',
      '.dockerignore',
      'app/main.js',
      'app/main.test.js',
      'app/node_modules/dep/index.js',
      'node_modules/x/y.js',
      'docs/README.md',
      'docs/guide.md',
      'logs/a.log',
      'logs/keep.log',
      'deep/a/b/secret.key',
      'deep/a/b/public.pem',
    ];
    for (const f of files) {
      await mkdir(path.dirname(path.join(root, f)), { recursive: true });
      await writeFile(path.join(root, f), f);
    }
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function seen(patterns: string[]): Promise<string[]> {
    const tree = new DiskTree(root, IgnoreMatcher.from(patterns));
    return (await walkSource(tree, '')).map((e) => (e.stat.type === 'directory' ? `${e.rel}/` : e.rel));
  }

  it('without patterns: everything, depth first in byte order', async () => {
    expect(await seen([])).toEqual([
      '.dockerignore',
      'Dockerfile',
      'app/',
      'app/main.js',
      'app/main.test.js',
      'app/node_modules/',
      'app/node_modules/dep/',
      'app/node_modules/dep/index.js',
      'deep/',
      'deep/a/',
      'deep/a/b/',
      'deep/a/b/public.pem',
      'deep/a/b/secret.key',
      'docs/',
      'docs/README.md',
      'docs/guide.md',
      'logs/',
      'logs/a.log',
      'logs/keep.log',
      'node_modules/',
      'node_modules/x/',
      'node_modules/x/y.js',
    ]);
  });

  it('a pattern excludes a directory and all below it; ** reaches any depth; order decides', async () => {
    const got = await seen(['**/node_modules', 'docs', '!docs/README.md', '*.log', '!logs/keep.log', '**/*.key', '.dockerignore', 'Dockerfile']);
    expect(got).toEqual([
      'app/',
      'app/main.js',
      'app/main.test.js',
      'deep/',
      'deep/a/',
      'deep/a/b/',
      'deep/a/b/public.pem',
      'docs/',
      'docs/README.md',
      'logs/',
      'logs/a.log',
      'logs/keep.log',
    ]);
  });

  it('an allow-list (* then exceptions) keeps the parents of what it lets through', async () => {
    expect(await seen(['*', '!app/*.js', '!deep/a/b/public.pem', 'app/*.test.js'])).toEqual([
      'app/',
      'app/main.js',
      'deep/',
      'deep/a/',
      'deep/a/b/',
      'deep/a/b/public.pem',
    ]);
  });
});
