/**
 * @module build/shell/lex
 * BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`): variable expansion and word
 * splitting for Dockerfile arguments. It handles `'…'` (literal), `"…"` (only `$`, `"` and the
 * escape character are special), the escape character (`\` or `` ` ``), `$VAR`, `${VAR}`,
 * `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`, `${VAR:?w}`, `${VAR?w}`, `${VAR#p}`,
 * `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`, `${VAR/p/r}` and `${VAR//p/r}`; nothing is executed.
 * `<<` plus the blanks after it stay one word so heredoc markers survive splitting.
 *
 * One deliberate difference: BuildKit shares one word buffer between a `${…}` modifier's inner
 * word and the outer word, so `processWords('a${X:-b}c')` gives `["bc"]` there; here each word
 * has its own buffer and the result is `["abc"]` (the single-word result is the same in both).
 */
import { CairnError } from '../../errors.js';
import { goQuote, isGoDigit, isGoLetter } from './chars.js';
import { PatternError, replacePattern, trimPrefix, trimSuffix } from './pattern.js';
import { Scanner, Words } from './scan.js';

/** Variables for expansion: a Map, or a plain record (own properties only). */
export type ShellEnv = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** How the lexer treats quotes, escapes and unset variables; all default to BuildKit's defaults. */
export interface ShellLexerOptions {
  /** The escape character set by the `# escape=` directive. Default `\`. */
  escape?: '\\' | '`';
  /** Keep quote characters in the output (used to tell quoted heredoc names apart). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X:-y}`). */
  skipUnsetEnv?: boolean;
}

/** Everything one pass produces: the joined result, the split words, and which names were looked up. */
export interface ProcessResult {
  result: string;
  words: string[];
  matched: Set<string>;
  unmatched: Set<string>;
}

/** An expansion failure inside one pass; `process` turns it into a CairnError. */
class LexError extends Error {}

function lookup(env: ShellEnv, name: string): string | undefined {
  if (env instanceof Map) return env.get(name);
  const rec = env as Readonly<Record<string, string>>;
  return Object.prototype.hasOwnProperty.call(rec, name) ? rec[name] : undefined;
}

const fail = (message: string): never => {
  throw new LexError(message);
};

function isSpecialParam(ch: string): boolean {
  return '@*#?-$!0'.includes(ch) && ch.length === 1;
}

/** One pass over one input: the state BuildKit keeps in its `shellWord`. */
class Pass {
  private readonly scanner: Scanner;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private rawEscapes: boolean;

  constructor(private readonly lexer: ShellLexer, src: string, private readonly env: ShellEnv) {
    this.scanner = new Scanner(src);
    this.rawEscapes = lexer.options.rawEscapes;
  }

  run(): [string, string[]] {
    return this.processStopOn(undefined, this.rawEscapes);
  }

  private getEnv(name: string): string | undefined {
    const v = lookup(this.env, name);
    (v === undefined ? this.unmatched : this.matched).add(name);
    return v;
  }

  /** Reads up to `stop` (consumed) or the end; returns the text and its words. */
  private processStopOn(stop: string | undefined, rawEscapes: boolean): [string, string[]] {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.stopOn(stop);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private stopOn(stop: string | undefined): [string, string[]] {
    const { escape, skipProcessQuotes } = this.lexer.options;
    const s = this.scanner;
    let result = '';
    const words = new Words();
    for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
      if (stop !== undefined && ch === stop) {
        s.next();
        return [result, words.get()];
      }
      if (ch === '$') {
        const tmp = this.processDollar();
        result += tmp;
        words.addString(tmp);
      } else if (ch === '<') {
        const tmp = this.processPossibleHeredoc();
        result += tmp;
        words.addRawString(tmp);
      } else if (!skipProcessQuotes && (ch === "'" || ch === '"')) {
        const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
        result += tmp;
        words.addRawString(tmp);
      } else {
        let c = s.next() as string;
        if (c === escape) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          // The escape character escapes the next rune; at the end of input it is dropped.
          const escaped = s.next();
          if (escaped === undefined) break;
          c = escaped;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stop !== undefined) fail(`unexpected end of statement while looking for matching ${stop}`);
    return [result, words.get()];
  }

  private processSingleQuote(): string {
    // Everything up to the next ' is literal; a single quote cannot be escaped inside.
    const s = this.scanner;
    const raw = this.lexer.options.rawQuotes;
    let result = '';
    const open = s.next() as string;
    if (raw) result += open;
    for (;;) {
      const ch = s.next();
      if (ch === undefined) return fail('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (raw) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    // Literal except `$`, and the escape character before `"`, `$` or itself.
    const s = this.scanner;
    const { rawQuotes: raw, escape } = this.lexer.options;
    let result = '';
    const open = s.next() as string;
    if (raw) result += open;
    for (;;) {
      const peek = s.peek();
      if (peek === undefined) return fail('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        s.next();
        if (raw) result += peek;
        return result;
      }
      if (peek === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = s.next() as string;
      if (ch === escape) {
        if (this.rawEscapes) result += ch;
        const after = s.peek();
        if (after === undefined) continue; // a trailing escape is dropped; the quote is unclosed
        if (after === '"' || after === '$' || after === escape) ch = s.next() as string;
      }
      result += ch;
    }
  }

  private processName(): string {
    // A name is letters, digits and `_`; a leading digit reads a run of digits ($1, $10);
    // a special parameter ($@, $#, …) is one character.
    const s = this.scanner;
    let name = '';
    for (let ch = s.peek(); ch !== undefined; ch = s.peek()) {
      if (name.length === 0 && isGoDigit(ch)) {
        for (let d = s.peek(); d !== undefined && isGoDigit(d); d = s.peek()) name += s.next() as string;
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return s.next() as string;
      if (!isGoLetter(ch) && !isGoDigit(ch) && ch !== '_') break;
      name += s.next() as string;
    }
    return name;
  }

  private processDollar(): string {
    const s = this.scanner;
    const { skipUnsetEnv } = this.lexer.options;
    s.next();
    if (s.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    s.next();
    const first = s.peek();
    if (first === undefined) return fail("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') return fail('syntax error: bad substitution');
    const name = this.processName();
    let ch = s.next();
    // Go renders the EOF rune (-1) as U+FFFD in these messages.
    let chs = ch ?? '\uFFFD';
    switch (ch) {
      case '}': {
        const value = this.getEnv(name);
        if (value === undefined && skipUnsetEnv) return `\${${name}}`;
        return value ?? '';
      }
      case ':':
      case '+': case '-': case '?': case '#': case '%': {
        const nullIsUnset = ch === ':';
        if (nullIsUnset) {
          ch = s.next();
          chs += ch ?? '\uFFFD';
        }
        const rawEscapes = ch === '#' || ch === '%';
        if (nullIsUnset && rawEscapes) return fail(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          [word] = this.processStopOn('}', rawEscapes);
        } catch (err) {
          if (s.peek() === undefined) return fail("syntax error: missing '}'");
          throw err;
        }
        const value = this.getEnv(name);
        if (skipUnsetEnv && value === undefined) return `\${${name}${chs}${word}}`;
        const unset = value === undefined || (nullIsUnset && value === '');
        switch (ch) {
          case '-':
            return unset ? word : (value as string);
          case '+':
            return unset ? '' : word;
          case '?': {
            if (value === undefined) return fail(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
            if (nullIsUnset && value === '') return fail(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
            return value;
          }
          case '%':
          case '#': {
            // One `%`/`#` removes the shortest match, two the longest.
            const greedy = word.startsWith(ch);
            const pattern = greedy ? word.slice(1) : word;
            return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
          }
          default:
            return fail(`unsupported modifier (${chs}) in substitution`);
        }
      }
      case '/': {
        const all = s.peek() === '/';
        if (all) s.next();
        let pattern: string;
        let replacement: string;
        try {
          [pattern] = this.processStopOn('/', true);
        } catch (err) {
          if (s.peek() === undefined) return fail("syntax error: missing '/' in ${}");
          throw err;
        }
        try {
          [replacement] = this.processStopOn('}', true);
        } catch (err) {
          if (s.peek() === undefined) return fail("syntax error: missing '}'");
          throw err;
        }
        const value = this.getEnv(name);
        if (skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
        return replacePattern(pattern, value ?? '', replacement, all);
      }
      default:
        return fail(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processPossibleHeredoc(): string {
    // `<<` keeps the blanks that follow it, so `<<  EOF` stays one word for the heredoc parser.
    const s = this.scanner;
    s.next();
    if (s.peek() !== '<') return '<';
    s.next();
    let space = '';
    for (let ch = s.peek(); ch === '\t' || ch === '\r' || ch === ' '; ch = s.peek()) space += s.next() as string;
    return `<<${space}`;
  }
}

/**
 * BuildKit's `shell.Lex`. Stateless between calls, so one lexer may be shared.
 *
 * @example new ShellLexer().processWord('${A:-x}/y', { A: '' }) // 'x/y'
 */
export class ShellLexer {
  readonly options: Required<ShellLexerOptions>;

  constructor(options: ShellLexerOptions = {}) {
    this.options = {
      escape: options.escape ?? '\\',
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
    };
  }

  /**
   * Expands variables and removes quotes and escapes; white space is kept.
   *
   * @throws CairnError 'invalid-document' (`failed to process "…": …`, BuildKit's wording) with
   *   data `{ word, reason }`.
   */
  processWord(word: string, env: ShellEnv): string {
    return this.process(word, env).result;
  }

  /** Like `processWord`, then splits on unquoted white space. @throws as `processWord`. */
  processWords(word: string, env: ShellEnv): string[] {
    return this.process(word, env).words;
  }

  /** Both results plus the variable names found and not found. @throws as `processWord`. */
  process(word: string, env: ShellEnv): ProcessResult {
    const pass = new Pass(this, word, env);
    try {
      const [result, words] = pass.run();
      return { result, words, matched: pass.matched, unmatched: pass.unmatched };
    } catch (err) {
      if (err instanceof LexError || err instanceof PatternError) {
        throw new CairnError('invalid-document', `failed to process ${goQuote(word)}: ${err.message}`, {
          word,
          reason: err.message,
        });
      }
      throw err;
    }
  }
}
