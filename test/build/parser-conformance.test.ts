/**
 * BuildKit's parser vectors (../shared/conformance/buildkit/frontend/dockerfile/parser): every
 * `testfiles/<case>` dumps to its `result` byte for byte, every `testfiles-negative/<case>`
 * fails, and `testfile-line` gives the line ranges CASES.md §1 states.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { dumpAst, parseDockerfile } from '../../src/build/parser/index.js';
import { isCairnError } from '../../src/errors.js';
import { conformancePath, hasShared } from '../support/shared.js';

const parserDir = (...parts: string[]): string =>
  conformancePath('buildkit', 'frontend', 'dockerfile', 'parser', ...parts);
const cases = (dir: string): string[] => (hasShared ? readdirSync(parserDir(dir)).sort() : []);

describe.skipIf(!hasShared)('buildkit parser testfiles', () => {
  const positive = cases('testfiles');
  test('all 33 cases are there', () => {
    expect(positive).toHaveLength(33);
  });
  test.each(positive)('%s', (name) => {
    const source = readFileSync(path.join(parserDir('testfiles', name), 'Dockerfile'));
    const expected = readFileSync(path.join(parserDir('testfiles', name), 'result'), 'utf8');
    const parsed = parseDockerfile(source);
    expect(dumpAst(parsed.nodes) + '\n').toBe(expected);
  });
});

describe.skipIf(!hasShared)('buildkit parser testfiles-negative', () => {
  const negative = cases('testfiles-negative');
  test('all 4 cases are there', () => {
    expect(negative).toHaveLength(4);
  });
  test.each(negative)('%s fails', (name) => {
    const source = readFileSync(path.join(parserDir('testfiles-negative', name), 'Dockerfile'));
    let thrown: unknown;
    try {
      parseDockerfile(source);
    } catch (err) {
      thrown = err;
    }
    expect(isCairnError(thrown, 'invalid-document')).toBe(true);
  });
});

describe.skipIf(!hasShared)('buildkit parser testfile-line', () => {
  test('root spans 5..31 with FROM 5..5, ENV 11..12, RUN 17..31', () => {
    const parsed = parseDockerfile(readFileSync(parserDir('testfile-line', 'Dockerfile')));
    expect(parsed.nodes.map((n) => [n.startLine, n.endLine])).toEqual([[5, 5], [11, 12], [17, 31]]);
    expect(parsed.directives).toEqual([{ name: 'escape', value: '\\', line: 1 }]);
  });
});
