/**
 * The shell lexer beyond the conformance tables: BuildKit's lex_test.go cases (CASES.md §9),
 * the lexer options the parser uses, the escape character, and our error form.
 */
import { describe, expect, test } from 'vitest';
import { ShellLexer, expandWord, expandWords, goQuote } from '../../src/build/shell/index.js';
import { patternToRegexSource, reversePattern, reverseString } from '../../src/build/shell/pattern.js';
import { isCairnError } from '../../src/errors.js';

const lex = new ShellLexer();

describe('${VAR?msg} and ${VAR:?msg} (CASES.md §9)', () => {
  const noEmpty = '${VAR:?message here$ARG}';
  const noUnset = '${VAR?message here$ARG}';
  test('set', () => {
    expect(expandWord(noEmpty, { VAR: 'plain', ARG: 'x' })).toBe('plain');
    expect(expandWord(noUnset, { VAR: 'plain', ARG: 'x' })).toBe('plain');
  });
  test('empty', () => {
    expect(() => expandWord(noEmpty, { VAR: '', ARG: 'x' })).toThrow('VAR: message herex');
    expect(expandWord(noUnset, { VAR: '', ARG: 'x' })).toBe('');
  });
  test('unset', () => {
    expect(() => expandWord(noEmpty, { ARG: 'x' })).toThrow('message herex');
    expect(() => expandWord(noUnset, { ARG: 'x' })).toThrow('message herex');
    expect(() => expandWord('${BAZ:?}', {})).toThrow('BAZ: is not allowed to be unset');
    expect(() => expandWord('${BAR:?}', { BAR: '' })).toThrow('BAR: is not allowed to be empty');
  });
  test('the error is a CairnError with BuildKit\'s wording', () => {
    let thrown: unknown;
    try {
      expandWord('a${B?missing}', {});
    } catch (err) {
      thrown = err;
    }
    expect(isCairnError(thrown, 'invalid-document')).toBe(true);
    expect((thrown as Error).message).toBe('failed to process "a${B?missing}": B: missing');
  });
});

describe('ProcessWordWithMatches table (lex_test.go)', () => {
  const cases: [string, Record<string, string>, string | Error, string[]?, string[]?][] = [
    ['x', { DUMMY: 'dummy' }, 'x', [], []],
    ['x ${UNUSED}', { DUMMY: 'dummy' }, 'x ', [], ['UNUSED']],
    ['x ${FOO}', { FOO: 'y' }, 'x y', ['FOO'], []],
    ['${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx  ccc', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', { FOO: 'xxx', BAR: '' }, 'xxx bbb ccc', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:-}', { FOO: 'xxx', BAR: '' }, 'xxx', ['FOO'], []],
    ['${FOO:-}', {}, '', [], ['FOO']],
    ['${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa bbb ', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', { FOO: 'xxx', BAR: '' }, 'aaa  ', ['FOO', 'BAR'], ['BAZ']],
    ['${FOO?aaa}', { FOO: 'xxx', BAR: '' }, 'xxx', ['FOO'], []],
    ['${BAR?bbb}', { FOO: 'xxx', BAR: '' }, '', ['BAR'], []],
    ['${BAZ?ccc}', { FOO: 'xxx', BAR: '' }, new Error()],
    ['${FOO:?aaa}', { FOO: 'xxx', BAR: '' }, 'xxx', ['FOO'], []],
    ['${BAR:?bbb}', { FOO: 'xxx', BAR: '' }, new Error()],
    ['${BAZ:?ccc}', { FOO: 'xxx', BAR: '' }, new Error()],
    ['${FOO=aaa}', { FOO: 'xxx', BAR: '' }, new Error()],
    ['${FOO=:aaa}', { FOO: 'xxx', BAR: '' }, new Error()],
    ['${FOO=}', {}, new Error()],
    ['${FOO#()[]{\\}^$.\\*\\?|\\\\}', { FOO: '()[]{}^$.*?|\\x' }, 'x', ['FOO'], []],
    ['${FOO%%\\**}', { FOO: 'xx**' }, 'xx', ['FOO'], []],
    ['${FOO#*x*y}', { FOO: 'xxyy' }, 'y', ['FOO'], []],
    ['${FOO#*}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: 'x' }, 'xyy', ['FOO', 'BAR'], []],
    ['${FOO#$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy', ['FOO', 'BAR'], []],
    ['${FOO#}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO##*x}', { FOO: 'xxyy' }, 'yy', ['FOO'], []],
    ['${FOO##}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO#?\\?}', { FOO: '???y' }, '?y', ['FOO'], []],
    ['${ABC:-.}${FOO%x}${ABC:-.}', { FOO: 'xxyy' }, '.xxyy.', ['FOO'], ['ABC']],
    ['${FOO%%\\**\\*}', { FOO: 'a***yy*' }, 'a', ['FOO'], []],
    ['${FOO%}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO%%$BAR}', { FOO: 'xxyy', BAR: '' }, 'xxyy', ['FOO', 'BAR'], []],
    ['${FOO:#}', {}, new Error()],
    ['${FOO:##}', {}, new Error()],
    ['${FOO:%}', {}, new Error()],
    ['${FOO:%%}', {}, new Error()],
    ['${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, '/foo.*/*.txt - /foo..*.txt', ['FOO', 'NEEDLE'], []],
    ['${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, '/tmp/bar.txt - /bar.txt', ['FOO', 'NEEDLE'], []],
    ['${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}', { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' }, '/foo/b/c.txt - /foo/c.txt', ['FOO', 'NEEDLE', 'REPLACEMENT'], []],
    ['${FOO/$NEEDLE/$REPLACEMENT}', { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' }, 'https://google.de', ['FOO', 'NEEDLE', 'REPLACEMENT'], []],
    ['${FOO//\\//\\/}', { FOO: '/tmp/foo.txt' }, '\\/tmp\\/foo.txt', ['FOO'], []],
    ['${FOO/$BAR/ww}', { FOO: 'xxyy', BAR: '' }, 'wwxxyy', ['FOO', 'BAR'], []],
    ['${FOO//ww}', { FOO: 'xxyy' }, new Error()],
    ['${FOO//}', { FOO: 'xxyy' }, new Error()],
    ['${FOO///}', { FOO: 'xxyy' }, 'xxyy', ['FOO'], []],
    ['${FOO///}', {}, '', [], ['FOO']],
  ];
  test.each(cases.map((c) => [`${c[0]} ${JSON.stringify(c[1])}`, c] as const))('%s', (_n, [input, env, expected, matched, unmatched]) => {
    if (expected instanceof Error) {
      expect(() => lex.process(input, env)).toThrow();
      return;
    }
    const r = lex.process(input, env);
    expect(r.result).toBe(expected);
    expect([...r.matched].sort()).toEqual([...(matched ?? [])].sort());
    expect([...r.unmatched].sort()).toEqual([...(unmatched ?? [])].sort());
  });
  test('release file name with an optional variant', () => {
    const release = 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz';
    const base = { VERSION: 'v1.2.3', TARGETOS: 'linux' };
    expect(expandWord(release, { ...base, TARGETARCH: 'arm', TARGETVARIANT: 'v7' })).toBe('something-v1.2.3.linux-arm-v7.tar.gz');
    expect(expandWord(release, { ...base, TARGETARCH: 'arm64', TARGETVARIANT: '' })).toBe('something-v1.2.3.linux-arm64.tar.gz');
    expect(expandWord(release, { ...base, TARGETARCH: 'arm64' })).toBe('something-v1.2.3.linux-arm64.tar.gz');
  });
});

describe('patterns', () => {
  test.each([
    ['*', '^[^\\n]*'],
    ['?', '^[^\\n]'],
    ['\\*', '^\\*'],
    ['(()[]{\\}^$.\\*\\?|\\\\', '^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\'],
  ])('%s converts (Go: "." is written [^\\n])', (pattern, source) => {
    expect(patternToRegexSource(pattern, true, true)).toBe(source);
  });
  test.each(['\\', '\\x', '\\\\\\'])('%s is invalid', (pattern) => {
    expect(() => patternToRegexSource(pattern, true, true)).toThrow(/invalid escape/);
  });
  test('reversing', () => {
    expect(reverseString('🖖🚀👽')).toBe('👽🚀🖖');
    expect(reversePattern('a\\*c')).toBe('c\\*a');
    expect(reversePattern('\\\\\\ab')).toBe('b\\a\\\\');
    expect(reversePattern('ab\\')).toBe('\\ba');
    expect(reversePattern('👽\\🚀🖖')).toBe('🖖\\🚀👽');
    expect(reversePattern('\\\\b')).toBe('b\\\\');
  });
  test('replace-all follows Go: no second replacement for an empty match after a match', () => {
    expect(expandWord('${FOO//*/z}', { FOO: 'xxyy' })).toBe('z');
    expect(expandWord('${FOO//x/-}', { FOO: 'xxyy' })).toBe('--yy');
    expect(expandWord('${FOO//?/.}', { FOO: 'a\rb' })).toBe('...');
  });
  test('a pattern error is an expansion error', () => {
    expect(() => expandWord('${FOO#\\x}', { FOO: 'a' })).toThrow('invalid pattern (\\x) in substitution');
  });
});

describe('options and escape characters', () => {
  test('backtick escape (escape=` files)', () => {
    const bt = new ShellLexer({ escape: '`' });
    expect(bt.processWord('c:\\dir `$X "a`"b"', { X: '1' })).toBe('c:\\dir $X a"b');
    expect(bt.processWords('a` b c', {})).toEqual(['a b', 'c']);
  });
  test('rawQuotes and rawEscapes keep what they say', () => {
    const raw = new ShellLexer({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
    expect(raw.processWords(`a 'b c' "d" e\\ f $U \${V:-w}`, {})).toEqual(['a', "'b c'", '"d"', 'e\\ f', '$U', '${V:-w}']);
  });
  test('skipProcessQuotes treats quotes as text', () => {
    expect(new ShellLexer({ skipProcessQuotes: true }).processWord(`'$A'`, { A: 'x' })).toBe("'x'");
  });
  test('<< keeps its following blanks in one word', () => {
    expect(lex.processWords('cat <<  EOF > f', {})).toEqual(['cat', '<<  EOF', '>', 'f']);
  });
  test('split words: quoted empty strings vanish, expanded values split', () => {
    expect(expandWords(`a '' "b  c" $X`, { X: ' d  e ' })).toEqual(['a', 'b  c', 'd', 'e']);
  });
  test('a modifier inside a word keeps the word whole (BuildKit loses the prefix: see lex.ts)', () => {
    expect(expandWords('hello${hi:-x}bye there', {})).toEqual(['helloxbye', 'there']);
  });
  test('Map and record environments; inherited properties are not variables', () => {
    expect(expandWord('$A$B', new Map([['A', '1']]))).toBe('1');
    expect(expandWord('${toString:-unset}', {})).toBe('unset');
  });
  test('unicode names and digits', () => {
    expect(expandWord('$한국어 ${x_1}$10', { 한국어: 'k', x_1: 'y', '10': 'ten' })).toBe('k yten');
  });
});

describe('goQuote', () => {
  test.each([
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\u0007\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\u0000\u007f', '"\\x00\\x7f"'],
    ['♥ 한국어', '"♥ 한국어"'],
    ['\u00a0\u200b', '"\\u00a0\\u200b"'],
    ['\u{1F600}\u{E0001}', '"😀\\U000e0001"'],
  ])('%j', (input, quoted) => {
    expect(goQuote(input)).toBe(quoted);
  });
});
