/**
 * @module build/shell/scan
 * The two small state machines under the shell lexer: a rune reader that behaves like Go's
 * text/scanner (a leading byte-order mark is dropped), and the word accumulator that splits
 * on unquoted white space while quoted text (even empty) stays part of the current word.
 */
import { isGoSpace } from './chars.js';

/** Go's text/scanner as BuildKit uses it: rune by rune, a leading byte-order mark dropped. */
export class Scanner {
  private readonly chars: string[];
  private pos: number;
  constructor(src: string) {
    this.chars = Array.from(src);
    this.pos = this.chars[0] === '\uFEFF' ? 1 : 0;
  }
  peek(): string | undefined {
    return this.chars[this.pos];
  }
  next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }
}

/** Accumulates split words: unquoted white space ends a word, quoted text never does. */
export class Words {
  private buf = '';
  private readonly words: string[] = [];
  private inWord = false;
  addChar(ch: string): void {
    if (isGoSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else if (!isGoSpace(ch)) {
      this.addRawChar(ch);
    }
  }
  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}
