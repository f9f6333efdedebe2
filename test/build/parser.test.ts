/**
 * The Dockerfile parser (stage 1): the cases BuildKit encodes in Go tests (CASES.md §2, §3,
 * §5–§7), plus our error format. Heredocs (§4) are in parser-heredoc.test.ts, conformance files
 * in parser-conformance.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { detectSyntax, dumpAst, findDirective, parseDockerfile } from '../../src/build/parser/index.js';
import { parseJsonArray } from '../../src/build/parser/line-parsers.js';
import { parseWords } from '../../src/build/parser/split.js';
import { CairnError, isCairnError } from '../../src/errors.js';

function parseError(text: string, file?: string): CairnError {
  try {
    parseDockerfile(text, file === undefined ? {} : { file });
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error('expected the parse to fail');
}

const dump = (text: string): string => dumpAst(parseDockerfile(text).nodes);

describe('parseWords (CASES.md §2)', () => {
  test.each([
    ['foo', ['foo']],
    ['foo bar', ['foo', 'bar']],
    ['foo\\ bar', ['foo\\ bar']],
    ['foo=bar', ['foo=bar']],
    ["foo bar 'abc xyz'", ['foo', 'bar', "'abc xyz'"]],
    ['foo bar "abc xyz"', ['foo', 'bar', '"abc xyz"']],
    ['àöû', ['àöû']],
    ['föo bàr "âbc xÿz"', ['föo', 'bàr', '"âbc xÿz"']],
  ])('%s', (input, expected) => {
    expect(parseWords(input, '\\')).toEqual(expected);
  });
});

describe('empty continuation lines (CASES.md §3)', () => {
  const text = [
    '',
    'FROM alpine:3.6',
    '',
    'RUN valid \\',
    '    continuation',
    '',
    'RUN something \\',
    '',
    '    following \\',
    '',
    '    more',
    '',
    'RUN another \\',
    '',
    '    thing',
    '',
    'RUN non-indented \\',
    '# this is a comment',
    '   after-comment',
    '',
    'RUN indented \\',
    '    # this is an indented comment',
    '    comment',
    '\t',
  ].join('\n');
  test('warn once per instruction, with the joined text; comments are not empty lines', () => {
    const { warnings, nodes } = parseDockerfile(text);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]?.short).toBe('Empty continuation line found in: RUN something     following     more');
    expect(warnings[1]?.short).toBe('Empty continuation line found in: RUN another     thing');
    expect(warnings[0]?.detail).toContain('will become errors in a future release');
    expect(nodes.map((n) => n.args[0])).toContain('non-indented    after-comment');
  });
  test('a physical line over 65535 bytes is an error', () => {
    const label = 'a'.repeat(65536);
    const err = parseError(`\n\t\tFROM image\n\t\tLABEL test=${label}\n`);
    expect(err.data.reason).toBe('dockerfile line greater than max allowed size of 65535');
    expect(err.data.line).toBe(3);
  });
  test('65535 bytes is still allowed', () => {
    const value = 'a'.repeat(65535 - 'LABEL t='.length);
    expect(parseDockerfile(`FROM x\nLABEL t=${value}\n`).nodes).toHaveLength(2);
  });
});

describe('parser directives (CASES.md §5)', () => {
  test('unknown keys end nothing but are ignored; names are case-insensitive', () => {
    const a = parseDockerfile('#escape=\\\n# key = FOO bar\n\n# smth\nFROM x\n');
    expect(a.directives).toEqual([{ name: 'escape', value: '\\', line: 1 }]);
    const b = parseDockerfile('# EScape=`\n# KEY = FOO bar\n\n# smth\nFROM x\n');
    expect(b.directives).toEqual([{ name: 'escape', value: '`', line: 1 }]);
    expect(b.escapeChar).toBe('`');
  });
  test('syntax, escape and check are collected; a directive after a comment is a comment', () => {
    const p = parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM x\n');
    expect(p.directives.map((d) => [d.name, d.value, d.line])).toEqual([
      ['syntax', 'docker/dockerfile:1', 1],
      ['check', 'skip=all', 2],
      ['escape', '`', 3],
    ]);
    const late = parseDockerfile('# hello\n# escape=`\nFROM x\nRUN a `\n b\n');
    expect(late.escapeChar).toBe('\\');
    expect(late.directives).toEqual([]);
    expect(late.nodes.map((n) => n.args[0])).toEqual(['x', 'a `', '']);
  });
  test('a directive after an instruction or a blank line is a comment', () => {
    expect(parseDockerfile('FROM x\n# escape=`\n').escapeChar).toBe('\\');
    expect(parseDockerfile('\n# escape=`\nFROM x\n').escapeChar).toBe('\\');
  });
  test('the escape character must be \\ or `', () => {
    const err = parseError('# escape=x\nFROM x\n');
    expect(err.message).toBe("Dockerfile:1: invalid escape token 'x' does not match ` or \\");
  });
  test('a repeated directive is an error', () => {
    expect(parseError('# syntax=a\n# syntax=b\nFROM x\n').message).toBe(
      'Dockerfile:2: only one syntax parser directive can be used',
    );
  });
  test('directive comments do not become doc comments', () => {
    const p = parseDockerfile('# syntax=x\n# base image\nFROM x\n');
    expect(p.nodes[0]?.comments).toEqual(['base image']);
  });
  test('Windows-style file with escape=`', () => {
    const text =
      '# escape=`\r\n\r\nFROM mcr.microsoft.com/windows/servercore\r\nRUN dir c:\\ `\r\n    && echo done\r\nCOPY testfile.txt c:\\\r\n';
    expect(dump(text)).toBe(
      '(from "mcr.microsoft.com/windows/servercore")\n(run "dir c:\\\\     && echo done")\n(copy "testfile.txt" "c:\\\\")',
    );
  });
  test('detectSyntax: line 1, shebang, blank line, //, JSON, BOM', () => {
    expect(detectSyntax('# syntax = dockerfile:experimental // opts\nFROM busybox\n')).toEqual({
      value: 'dockerfile:experimental',
      cmdline: 'dockerfile:experimental // opts',
      line: 1,
    });
    expect(detectSyntax('#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n')?.line).toBe(2);
    expect(detectSyntax('#!/bin/sh\n\n# syntax = dockerfile:experimental\n')).toBeUndefined();
    expect(detectSyntax('FROM busybox\nRUN ls\n')).toBeUndefined();
    expect(detectSyntax('//syntax=foo\n//key=value')?.value).toBe('foo');
    expect(detectSyntax('#!/bin/sh\n//syntax=x')?.value).toBe('x');
    expect(detectSyntax('{"syntax": "foo", "bar": ["abc"]}')?.value).toBe('foo');
    expect(detectSyntax('{"syntax": "foo"')).toBeUndefined();
    expect(detectSyntax('{"syntax": "foo"}\n# syntax=bar')).toBeUndefined();
    expect(detectSyntax('\uFEFF# syntax = myfrontend\nFROM busybox\n')).toEqual({
      value: 'myfrontend',
      cmdline: 'myfrontend',
      line: 1,
    });
  });
  test('findDirective: # only', () => {
    expect(findDirective('check', '#check = skip=all // opts\nFROM busybox\n')).toEqual({
      value: 'skip=all',
      cmdline: 'skip=all // opts',
      line: 1,
    });
    expect(findDirective('check', '#!/bin/sh\n# check = skip=all\nFROM busybox\n')?.line).toBe(2);
    expect(findDirective('check', '#!/bin/sh\n\n# check = skip=all\n')).toBeUndefined();
    expect(findDirective('check', '//check=skip=all\n//key=value')).toBeUndefined();
  });
  test('a UTF-8 byte-order mark is ignored', () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('# escape=`\nFROM x\n')]);
    expect(parseDockerfile(bytes).escapeChar).toBe('`');
    expect(parseDockerfile('\uFEFF# escape=`\nFROM x\n').escapeChar).toBe('`');
  });
});

describe('JSON exec form (CASES.md §6)', () => {
  test.each([
    ['[]', []],
    ['[""]', ['']],
    ['["a"]', ['a']],
    ['["a","b"]', ['a', 'b']],
    ['[ "a", "b" ]', ['a', 'b']],
    ['[\t"a",\t"b"\t]', ['a', 'b']],
    ['\t[\t"a",\t"b"\t]\t', ['a', 'b']],
    [
      '["abc 123", "♥", "☃", "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000"]',
      ['abc 123', '♥', '☃', '" \\ / \b \f \n \r \t \u0000'],
    ],
  ])('%s', (json, expected) => {
    expect(parseJsonArray(json)).toEqual(expected);
  });
  test.each([
    '["a",42,"b"]',
    '["a",123.456,"b"]',
    '["a",{},"b"]',
    '["a",{"c": "d"},"b"]',
    '["a",["c"],"b"]',
    '["a",true,"b"]',
    '["a",false,"b"]',
    '["a",null,"b"]',
  ])('%s is not a string array', (json) => {
    expect(() => parseJsonArray(json)).toThrow(
      'when using JSON array syntax, arrays must be comprised of strings only',
    );
  });
  test('a non-string array is a parse error naming the line', () => {
    expect(parseError('FROM x\nCMD [ "echo", [ "nested json" ] ]\n').message).toBe(
      'Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only',
    );
  });
  test('malformed JSON falls back to shell form (or words for COPY/ADD/VOLUME)', () => {
    expect(dump('CMD ["a", \'b\']\nCOPY ["a" "b"]\nVOLUME [/a]\n')).toBe(
      '(cmd "[\\"a\\", \'b\']")\n(copy "[\\"a\\"" "\\"b\\"]")\n(volume "[/a]")',
    );
  });
  test('a number Go cannot hold makes the array "not JSON", as Go reports a decode error', () => {
    expect(dump('CMD ["a", 1e400]\n')).toBe('(cmd "[\\"a\\", 1e400]")');
  });
  test('unpaired surrogate escapes decode to U+FFFD as in Go', () => {
    expect(parseJsonArray('["\\ud800x"]')).toEqual(['\uFFFDx']);
  });
});

describe('ENV and LABEL pairs (CASES.md §7)', () => {
  test('legacy and key=value forms', () => {
    expect(dump('LABEL foo bar\nLABEL foo=bar thing=star\nENV a b c  d\n')).toBe(
      '(label "foo" "bar" "")\n(label "foo" "bar" "=" "thing" "star" "=")\n(env "a" "b c  d" "")',
    );
  });
  test('ENV with a name and no value', () => {
    expect(parseError('FROM busybox\n\nENV PATH\n').message).toBe('Dockerfile:3: ENV must have two arguments');
  });
  test('a word without = after a key=value', () => {
    expect(parseError('FROM x\nLABEL a=b c\n').message).toBe(
      'Dockerfile:2: Syntax error - can\'t find = in "c". Must be of the form: name=value',
    );
  });
});

describe('lines, comments, flags', () => {
  test('comments and blank lines inside a continuation are dropped', () => {
    expect(dump('FROM x\nRUN a \\\n# c\n\n  # d\n  b\n')).toBe('(from "x")\n(run "a   b")');
  });
  test('comment blocks attach to the next instruction; blank lines do not reset them', () => {
    const p = parseDockerfile('# one\n\n# two\nFROM x\nRUN y\n#\n# three\nRUN z\n');
    expect(p.nodes.map((n) => n.comments)).toEqual([['one', 'two'], [], ['three']]);
  });
  test('flags: quotes removed, escapes honoured, -- ends them', () => {
    const n = parseDockerfile('COPY --chown="a b" --x=c\\ d -- --not-a-flag /d\n').nodes[0];
    expect(n?.flags).toEqual(['--chown=a b', '--x=c d']);
    expect(n?.args).toEqual(['--not-a-flag', '/d']);
  });
  test('keywords keep their case; unknown ones get one empty argument', () => {
    expect(dump('from x\nFoo bar\nONBUILD nope x\n')).toBe('(from "x")\n(foo "")\n(onbuild (nope ""))');
    expect(parseDockerfile('from x').nodes[0]?.instruction).toBe('from');
  });
  test('the whole line stays one shell string, quotes and escapes untouched', () => {
    expect(parseDockerfile('RUN echo "a  b" \\$X\n').nodes[0]?.args).toEqual(['echo "a  b" \\$X']);
  });
  test('CRLF line endings', () => {
    expect(dump('FROM x\r\nRUN a \\\r\n  b\r\n')).toBe('(from "x")\n(run "a   b")');
  });
  test('an empty file and a file of comments have no instructions', () => {
    expect(parseError('').message).toBe('Dockerfile:1: file with no instructions');
    expect(parseError('# a\n# b\n\n').message).toBe('Dockerfile:3: file with no instructions');
  });
  test('errors are CairnError invalid-document with file and line', () => {
    const err = parseError('FROM x\nRUN a\nCMD ["a", 1]\n', 'sub/Dockerfile.dev');
    expect(err.code).toBe('invalid-document');
    expect(err.data).toMatchObject({ file: 'sub/Dockerfile.dev', line: 3 });
    expect(err.message.startsWith('sub/Dockerfile.dev:3: ')).toBe(true);
  });
});
