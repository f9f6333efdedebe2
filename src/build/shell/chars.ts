/**
 * @module build/shell/chars
 * Go's character classes and quoting, as BuildKit's Dockerfile code sees them. JavaScript's
 * `\s`, `trim()` and `JSON.stringify` differ from Go's `unicode.IsSpace`, `strings.TrimSpace` and
 * `strconv.Quote` at the edges (U+0085, U+FEFF, non-printable runes), and the conformance dumps
 * are byte-exact, so the parser and the lexer use these instead.
 */

/** Go's `unicode.IsSpace`: ASCII white space, U+0085, U+00A0 and the Unicode White_Space set. */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case '\u0085': case '\u00a0':
    case '\u1680': case '\u2028': case '\u2029': case '\u202f': case '\u205f': case '\u3000':
      return true;
    default: {
      const c = ch.codePointAt(0) ?? 0;
      return c >= 0x2000 && c <= 0x200a;
    }
  }
}

/** Go's `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  return goTrimRight(goTrimLeft(s));
}

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function goTrimLeft(s: string): string {
  let i = 0;
  while (i < s.length) {
    const ch = String.fromCodePoint(s.codePointAt(i) ?? 0);
    if (!isGoSpace(ch)) break;
    i += ch.length;
  }
  return s.slice(i);
}

/** Go's `strings.TrimRightFunc(s, unicode.IsSpace)` (white space is never a surrogate pair). */
export function goTrimRight(s: string): string {
  let end = s.length;
  while (end > 0 && isGoSpace(s[end - 1] ?? '')) end--;
  return s.slice(0, end);
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
/** Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/** Go's `unicode.IsLetter`. */
export function isGoLetter(ch: string): boolean {
  return LETTER.test(ch);
}

/** Go's `unicode.IsDigit` (decimal digits of any script). */
export function isGoDigit(ch: string): boolean {
  return DIGIT.test(ch);
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/**
 * Go's `strconv.Quote`: `"` + escaped text + `"`. Printable runes (ASCII and non-ASCII) stay as
 * they are; `\a \b \f \n \r \t \v \\ \"` use their short escapes; other runes below 0x80 become
 * `\xNN`, the rest `\uNNNN` or `\UNNNNNNNN` (lower-case hex, as Go writes them).
 *
 * @example goQuote('a"b\u0000') // '"a\\"b\\x00"'
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\u0007': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (PRINTABLE.test(ch)) out += ch;
    else if (c < 0x80) out += `\\x${hex(c, 2)}`;
    else if (c < 0x10000) out += `\\u${hex(c, 4)}`;
    else out += `\\U${hex(c, 8)}`;
  }
  return out + '"';
}

/** Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}
