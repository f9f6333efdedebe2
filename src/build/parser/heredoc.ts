/**
 * @module build/parser/heredoc
 * Heredoc markers (`<<EOF`, `<<-EOF`, `3<<EOF`, `<<'EOF'`, `<<"EOF"`, `<< EOF`) on RUN, COPY and
 * ADD lines (BuildKit's `heredocsFromLine` / `ParseHeredoc`). The line is split with the shell
 * lexer keeping quotes and escapes, so a quoted `"<<EOF"` is not a marker; a name is unquoted
 * with the lexer, and any quoting in it turns expansion of the body off. The lexer always uses
 * `\` here, whatever the escape directive says, as BuildKit does.
 */
import { isCairnError } from '../../errors.js';
import { ShellLexer } from '../shell/lex.js';
import { InstructionError, unlocated } from './error.js';

/** A marker: everything about a heredoc but its body. */
export interface HeredocMarker {
  readonly name: string;
  readonly expand: boolean;
  readonly chomp: boolean;
  readonly fileDescriptor: number;
}

const MARKER = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const NO_ENV: ReadonlyMap<string, string> = new Map();
const plain = new ShellLexer({ skipUnsetEnv: true });
const rawQuotes = new ShellLexer({ skipUnsetEnv: true, rawQuotes: true });
const rawLine = new ShellLexer({ skipUnsetEnv: true, rawQuotes: true, rawEscapes: true });

const countQuotes = (s: string): number => s.split('').filter((c) => c === "'" || c === '"').length;

function lexError(err: unknown): never {
  if (isCairnError(err)) throw new InstructionError(err.message);
  throw err;
}

/**
 * Parses one word as a heredoc marker; undefined when it is not one (`<<`, `<EOF`, `<<EOF sh`).
 *
 * @throws CairnError 'invalid-document' for unbalanced quotes in the name (`<<'EOF`).
 * @example parseHeredoc("<<-'EOF'") // { name: 'EOF', expand: false, chomp: true, fileDescriptor: 0 }
 */
export function parseHeredoc(word: string): HeredocMarker | undefined {
  return unlocated(() => readMarker(word));
}

/** `parseHeredoc` for the parser. @throws InstructionError */
export function readMarker(word: string): HeredocMarker | undefined {
  const m = MARKER.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === '') return undefined;
  let words: string[];
  let raw: string[];
  try {
    words = plain.processWords(rest, NO_ENV);
    if (words.length !== 1) return undefined;
    raw = rawQuotes.processWords(rest, NO_ENV);
  } catch (err) {
    return lexError(err);
  }
  if (raw.length !== words.length) {
    throw new InstructionError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0] as string;
  return {
    name,
    // Removing quotes changed the word: some part was quoted, so the body stays literal.
    expand: countQuotes(name) === countQuotes(raw[0] as string),
    chomp: m[2] === '-',
    fileDescriptor: m[1] === '' ? 0 : Number.parseInt(m[1] as string, 10),
  };
}

/** Every heredoc marker on a logical line, in order. @throws InstructionError */
export function heredocsFromLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = rawLine.processWords(line, NO_ENV);
  } catch {
    // BuildKit ignores a line it cannot lex: such a line has no heredocs.
    words = [];
  }
  const out: HeredocMarker[] = [];
  for (const w of words) {
    const h = readMarker(w);
    if (h) out.push(h);
  }
  return out;
}

/** Strips leading tabs from every line of a `<<-` body. */
export function chompHeredocContent(content: string): string {
  // Not the `m` flag: JavaScript's `^` would also match after `\r`, Go's only after `\n`.
  return content.replace(/(^|\n)\t+/g, '$1');
}
