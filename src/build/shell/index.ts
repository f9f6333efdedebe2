/**
 * @module build/shell
 * Dockerfile variable expansion and word splitting (BuildKit's shell lexer). The builder calls
 * `expandWord` for single values (ENV, LABEL, WORKDIR, COPY paths…) and `expandWords` where
 * BuildKit splits after expansion.
 */
import { ShellLexer, type ShellEnv, type ShellLexerOptions } from './lex.js';

export { ShellLexer } from './lex.js';
export type { ProcessResult, ShellEnv, ShellLexerOptions } from './lex.js';
export { goQuote, goQuoteList } from './chars.js';

/** Options for the one-shot helpers. */
export type ExpandOptions = ShellLexerOptions;

/**
 * Expands `$VAR`, `${VAR…}`, quotes and escapes in one word (BuildKit's `ProcessWord`).
 *
 * @throws CairnError 'invalid-document' for bad syntax (`${}`, unterminated quotes) and
 *   failed `${VAR:?message}` checks.
 * @example expandWord('"$HOME"/bin', { HOME: '/root' }) // '/root/bin'
 */
export function expandWord(word: string, env: ShellEnv, options: ExpandOptions = {}): string {
  return new ShellLexer(options).processWord(word, env);
}

/**
 * Expands like `expandWord`, then splits on unquoted white space (BuildKit's `ProcessWords`).
 *
 * @throws as `expandWord`.
 * @example expandWords('a "b c" $X', { X: 'd e' }) // ['a', 'b c', 'd', 'e']
 */
export function expandWords(word: string, env: ShellEnv, options: ExpandOptions = {}): string[] {
  return new ShellLexer(options).processWords(word, env);
}
