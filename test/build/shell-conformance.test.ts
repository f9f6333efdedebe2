/**
 * BuildKit's expansion tables, one test per line: `shell/envVarTest` (ProcessWord) and
 * `shell/wordsTest` (ProcessWords), read from ../shared at test time (format in NOTES.md).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ShellLexer, expandWord } from '../../src/build/shell/index.js';
import { isCairnError } from '../../src/errors.js';
import { conformancePath, hasShared } from '../support/shared.js';

const shellFile = (name: string): string =>
  conformancePath('buildkit', 'frontend', 'dockerfile', 'shell', name);

interface EnvCase { line: number; platform: string; input: string; expected: string }

function envVarCases(): EnvCase[] {
  if (!hasShared) return [];
  const out: EnvCase[] = [];
  readFileSync(shellFile('envVarTest'), 'utf8').split('\n').forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const parts = line.split('|');
    if (parts.length !== 3) throw new Error(`envVarTest line ${i + 1}: expected 3 fields`);
    const [platform, input, expected] = parts.map((p) => p.trim()) as [string, string, string];
    out.push({ line: i + 1, platform, input, expected });
  });
  return out;
}

interface WordsCase { line: number; input: string; expected: string[]; env: string[] }

function wordsCases(): WordsCase[] {
  if (!hasShared) return [];
  const out: WordsCase[] = [];
  const env: string[] = [];
  // Go's bufio.Scanner yields no final empty token after the last newline.
  const lines = readFileSync(shellFile('wordsTest'), 'utf8').replace(/\n$/, '').split('\n');
  lines.forEach((line, i) => {
    if (line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      env.push(line.slice(3).replace(/^ +/, ''));
      return;
    }
    const parts = line.split('|');
    if (parts.length !== 2) throw new Error(`wordsTest line ${i + 1}: expected exactly one |`);
    out.push({
      line: i + 1,
      input: (parts[0] as string).trim(),
      expected: (parts[1] as string).replace(/^ +/, '').split(','),
      env: [...env],
    });
  });
  return out;
}

/** BuildKit's EnvsFromSlice: `k=v` entries, the last one for a key wins. */
function envFromSlice(list: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of list) {
    const at = e.indexOf('=');
    m.set(at < 0 ? e : e.slice(0, at), at < 0 ? '' : e.slice(at + 1));
  }
  return m;
}

describe.skipIf(!hasShared)('buildkit shell/envVarTest (ProcessWord)', () => {
  const env = envFromSlice(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
  const cases = envVarCases().filter((c) => c.platform === 'A' || c.platform === 'U');
  test('the table is there', () => {
    expect(cases.length).toBeGreaterThan(200);
  });
  test.each(cases.map((c) => [`line ${c.line}: ${c.input}`, c] as const))('%s', (_name, c) => {
    if (c.expected === 'error') {
      let thrown: unknown;
      try {
        expandWord(c.input, env);
      } catch (err) {
        thrown = err;
      }
      expect(isCairnError(thrown, 'invalid-document')).toBe(true);
    } else {
      expect(expandWord(c.input, env)).toBe(c.expected);
    }
  });
});

describe.skipIf(!hasShared)('buildkit shell/wordsTest (ProcessWords)', () => {
  const cases = wordsCases();
  test('the table is there', () => {
    expect(cases.length).toBeGreaterThan(20);
  });
  test.each(cases.map((c) => [`line ${c.line}: ${c.input}`, c] as const))('%s', (_name, c) => {
    const lexer = new ShellLexer();
    let result: string[];
    try {
      result = lexer.processWords(c.input, envFromSlice(c.env));
    } catch {
      result = ['error'];
    }
    expect(result).toEqual(c.expected);
  });
});
