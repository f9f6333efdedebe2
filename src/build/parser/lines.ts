/**
 * @module build/parser/lines
 * Physical lines and what BuildKit does to each before it joins them into a logical line:
 * newlines kept on the raw line (heredoc bodies need them), trailing CR/LF trimmed, comments
 * recognised after leading white space, and the line-continuation rule: the escape character
 * as the last non-blank character (spaces and tabs may follow it), unless it is itself escaped
 * by the character before it (`\\` at the end is not a continuation).
 */
import { goTrimLeft } from '../shell/chars.js';

/** BuildKit's `bufio.Scanner` limit: a line (without its newline) may hold 65535 bytes. */
export const MAX_LINE_BYTES = 65535;
export const LINE_TOO_LONG = `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`;

/** Yields physical lines with their `\n`; stops (and sets `tooLong`) at an over-long line. */
export class LineScanner {
  private pos = 0;
  /** Set when scanning stopped at a line over the limit, as Go's scanner stops with ErrTooLong. */
  tooLong = false;

  constructor(private readonly text: string) {}

  next(): string | undefined {
    if (this.tooLong || this.pos >= this.text.length) return undefined;
    const nl = this.text.indexOf('\n', this.pos);
    const end = nl < 0 ? this.text.length : nl + 1;
    const line = this.text.slice(this.pos, end);
    const content = nl < 0 ? line : line.slice(0, -1);
    // UTF-8 needs at most 3 bytes per UTF-16 unit, so short lines skip the exact count.
    if (content.length * 3 > MAX_LINE_BYTES && Buffer.byteLength(content, 'utf8') > MAX_LINE_BYTES) {
      this.tooLong = true;
      return undefined;
    }
    this.pos = end;
    return line;
  }
}

/** Go's `bytes.TrimRight(line, "\r\n")`. */
export function trimNewline(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === '\n' || line[end - 1] === '\r')) end--;
  return line.slice(0, end);
}

/** A comment line: `#` after optional white space. */
export function isComment(line: string): boolean {
  return goTrimLeft(line).startsWith('#');
}

/** Nothing but white space (this is what makes an "empty continuation line"). */
export function isEmptyContinuationLine(line: string): boolean {
  return goTrimLeft(trimNewline(line)).length === 0;
}

/**
 * The continuation regex for an escape character: `X<esc>[ \t]*$` with X not the escape
 * character, or the escape character alone on the line. Go's `[^\\]` matches any rune, so the
 * JavaScript class uses the `u` flag to do the same with astral characters.
 */
export function continuationRegex(escape: '\\' | '`'): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`, 'u');
}

/** Strips a continuation marker; returns the rest and whether the logical line ends here. */
export function trimContinuation(line: string, re: RegExp): [string, boolean] {
  const m = re.exec(line);
  if (!m) return [line, true];
  return [line.slice(0, m.index) + (m[1] ?? '') + line.slice(m.index + m[0].length), false];
}
