/**
 * @module build/parser/split
 * Splitting a logical line: the keyword, the leading `--flags` (quotes removed, the escape
 * character honoured, a `--` ends them), and the raw argument text. Also `parseWords`, the
 * quote-aware word splitter ENV/LABEL/ARG use, which keeps quotes and escapes in the words
 * (they are removed later, at expansion time).
 */
import { goTrimSpace, isGoSpace } from '../shell/chars.js';

/** Go's `[\t\v\f\r ]+`, the separator BuildKit splits keywords and plain word lists on. */
export const WHITESPACE = /[\t\v\f\r ]+/;

/** Go's `regexp.Split(s, n)` for n = 2 (-1 = all) with the WHITESPACE pattern. */
export function splitWhitespace(s: string, limit = -1): string[] {
  const out: string[] = [];
  const re = new RegExp(WHITESPACE.source, 'g');
  let last = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    if (limit > 0 && out.length === limit - 1) break;
    out.push(s.slice(last, m.index));
    last = m.index + m[0].length;
  }
  out.push(s.slice(last));
  return out;
}

/** The keyword, its flags and the trimmed rest of the line. */
export interface SplitLine {
  readonly keyword: string;
  readonly flags: string[];
  readonly rest: string;
}

/** BuildKit's `splitCommand`. */
export function splitCommand(line: string, escape: string): SplitLine {
  const parts = splitWhitespace(goTrimSpace(line), 2);
  const keyword = parts[0] as string;
  if (parts.length < 2) return { keyword, flags: [], rest: '' };
  const [rest, flags] = extractBuilderFlags(parts[1] as string, escape);
  return { keyword, flags, rest: goTrimSpace(rest) };
}

/**
 * Reads `--flag` words from the start of `line` and returns the text after them. Quotes group
 * characters and are dropped; the escape character takes the next character literally.
 */
export function extractBuilderFlags(line: string, escape: string): [string, string[]] {
  const chars = Array.from(line);
  const offsets: number[] = [];
  let off = 0;
  for (const ch of chars) {
    offsets.push(off);
    off += ch.length;
  }
  offsets.push(off);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  const end = chars.length;
  for (let pos = 0; pos <= end; pos++) {
    const ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === end) break;
      if (isGoSpace(ch)) continue;
      // Flags end at the first word that does not start with `--`.
      if (ch !== '-' || pos + 1 === end || chars[pos + 1] !== '-') return [line.slice(offsets[pos]), words];
      phase = 'word';
    }
    if (pos === end) {
      if (word !== '--' && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return [line.slice(offsets[pos]), words];
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      let c = ch;
      if (c === escape) {
        if (pos + 1 === end) continue; // an escape at the very end is dropped
        pos++;
        c = chars[pos] as string;
      }
      word += c;
      continue;
    }
    // in a quote
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    let c = ch;
    if (c === escape) {
      if (pos + 1 === end) {
        phase = 'word';
        continue;
      }
      pos++;
      c = chars[pos] as string;
    }
    word += c;
  }
  return ['', words];
}

/**
 * BuildKit's `parseWords`: splits on white space outside quotes; quotes and escape characters
 * stay in the words (`a\ b` and `'a b'` are one word each, written as they were).
 */
export function parseWords(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOK = false;
  let word = '';
  const end = chars.length;
  for (let pos = 0; pos <= end; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === end) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === end) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === end) continue; // an escape at the very end is dropped
        // Outside quotes the escape and the next character are both kept, even a quote.
        word += ch;
        pos++;
        ch = chars[pos] as string;
      }
      word += ch;
      continue;
    }
    // in a quote
    if (ch === quote) phase = 'word';
    // Inside single quotes nothing is escaped.
    if (ch === escape && quote !== "'") {
      if (pos + 1 === end) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos] as string;
    }
    word += ch;
  }
  return words;
}
