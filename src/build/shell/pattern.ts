/**
 * @module build/shell/pattern
 * The shell patterns of `${v#pat}`, `${v%pat}` and `${v/pat/repl}`: `*` any string, `?` one
 * character, `\` escapes `*`, `?` and `\` (and, inside `${}`, `}` and `/`); no bracket
 * expressions, as in BuildKit's `convertShellPatternToRegex`. Patterns become JavaScript
 * regular expressions whose matching agrees with Go's RE2 for this subset: `.` is written
 * `[^\n]` because Go's `.` matches `\r` and JavaScript's does not, and the `u` flag makes it
 * match whole code points as Go matches runes. Replacement follows Go's
 * `Regexp.ReplaceAllString` (template `$n` expansion, empty matches next to a previous match
 * skipped), which differs from `String.prototype.replace`.
 */

/** A pattern that cannot be converted; the message is BuildKit's. */
export class PatternError extends Error {}

const ANY_CHAR = '[^\\n]';
const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/** Converts a shell pattern to regex source (exported for tests). */
export function patternToRegexSource(pattern: string, greedy: boolean, anchored: boolean): string {
  const chars = Array.from(pattern);
  // Go's text/scanner drops a byte-order mark at the very start of its input.
  let i = chars[0] === '\uFEFF' ? 1 : 0;
  let out = anchored ? '^' : '';
  const star = greedy ? `${ANY_CHAR}*` : `${ANY_CHAR}*?`;
  while (i < chars.length) {
    let tok = chars[i++] as string;
    if (tok === '*') { out += star; continue; }
    if (tok === '?') { out += ANY_CHAR; continue; }
    if (tok === '\\') {
      // `}` and `/` had to be escaped to sit inside ${}; the escape is not part of the pattern.
      if (chars[i] === '}' || chars[i] === '/') continue;
      out += '\\';
      const next = chars[i++];
      if (next !== '*' && next !== '?' && next !== '\\') {
        // Go formats a missing rune (EOF, -1) with %c as U+FFFD.
        throw new PatternError(`invalid escape '\\${next ?? '\uFFFD'}'`);
      }
      tok = next;
    } else if (REGEX_SPECIAL.has(tok)) {
      out += '\\';
    }
    out += tok;
  }
  return out;
}

function compile(pattern: string, greedy: boolean, anchored: boolean, flags: string): RegExp {
  let source: string;
  try {
    source = patternToRegexSource(pattern, greedy, anchored);
    return new RegExp(source, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new PatternError(`invalid pattern (${pattern}) in substitution: ${why}`);
  }
}

/** Reverses a pattern rune by rune but keeps each `\x` escape pair in order: `a\*c` → `c\*a`. */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last;) {
    const tok = runes[i] as string;
    const at = last - i;
    if (tok === '\\' && i !== last) {
      out[at - 1] = tok;
      out[at] = runes[i + 1] as string;
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join('');
}

/** Reverses a string by code points. */
export function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

/** `${v#pat}` / `${v##pat}`: drops the shortest (or, greedy, longest) matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compile(pattern, greedy, true, 'u').exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/**
 * `${v%pat}` / `${v%%pat}`: a regex cannot find the shortest rightmost match, so both the
 * pattern and the value are reversed and the prefix rule applied.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** Go's `Regexp.Expand` for a template with no named groups: `$$`, `$n`, `${n}`, `$name`. */
function expandTemplate(template: string, match: RegExpExecArray): string {
  let out = '';
  let rest = template;
  for (;;) {
    const at = rest.indexOf('$');
    if (at < 0) break;
    out += rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (rest.startsWith('$')) { out += '$'; rest = rest.slice(1); continue; }
    let name: string;
    let after: string;
    const braced = /^\{([A-Za-z0-9_]+)\}/.exec(rest);
    const bare = /^[A-Za-z0-9_]+/.exec(rest);
    if (braced) { name = braced[1] as string; after = rest.slice(braced[0].length); }
    else if (bare) { name = bare[0]; after = rest.slice(bare[0].length); }
    else { out += '$'; continue; } // malformed: the `$` is literal text
    rest = after;
    if (/^[0-9]+$/.test(name)) {
      const n = Number(name);
      // Only group 0 exists: converted patterns have no capturing groups.
      if (n === 0) out += match[0];
    }
    // A named group never exists here, so `$name` expands to nothing.
  }
  return out + rest;
}

/**
 * `${v/pat/repl}` (first match, replaced literally) and `${v//pat/repl}` (every match, with
 * Go's `ReplaceAllString`: template expansion and its empty-match rule).
 */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  if (!all) {
    const m = compile(pattern, true, false, 'u').exec(value);
    if (!m) return value;
    return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }
  const re = compile(pattern, true, false, 'gu');
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    re.lastIndex = searchPos;
    const m = re.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += value.slice(lastMatchEnd, start);
    // Go skips an empty match right after another match, so `x*` does not replace twice.
    if (end > lastMatchEnd || start === 0) out += expandTemplate(replacement, m);
    lastMatchEnd = end;
    const width = searchPos < value.length ? String.fromCodePoint(value.codePointAt(searchPos) ?? 0).length : 0;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + value.slice(lastMatchEnd);
}
