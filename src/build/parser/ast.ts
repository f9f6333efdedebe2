/**
 * @module build/parser/ast
 * The syntax tree of a Dockerfile as BuildKit's parser builds it (`parser.Node`), flattened:
 * one `AstNode` per instruction with its arguments already shaped per instruction (JSON
 * elements, whitespace-split words, ENV/LABEL triples, or one shell string). Nothing is expanded
 * or validated here; `parseInstructions` does that.
 */

/** A heredoc attached to RUN, COPY or ADD (or ONBUILD wrapping them). */
export interface Heredoc {
  /** The terminator word with quotes removed (`<<'EOF'` → `EOF`). */
  readonly name: string;
  /** The body: every line between the marker line and the terminator, each with its newline. */
  readonly content: string;
  /** False when any part of the name was quoted: the body is then not variable-expanded. */
  readonly expand: boolean;
  /** `<<-`: leading tabs are to be stripped from body lines (by the consumer, not here). */
  readonly chomp: boolean;
  /** `3<<EOF` → 3; 0 when none was written. */
  readonly fileDescriptor: number;
}

/** One instruction. */
export interface AstNode {
  /** The keyword as written (`RUN`, `run`, `Copy`…); unknown keywords are kept too. */
  readonly instruction: string;
  /**
   * The arguments, shaped by the instruction (see spec-notes/dockerfile.md): exec-form elements,
   * whitespace-split words, `key value sep` triples for ENV/LABEL, or the whole shell string.
   * Unknown instructions get one empty argument, as BuildKit's `parseIgnore` does.
   */
  readonly args: readonly string[];
  /** `--name=value` flags before the arguments, quotes removed; a final `--` is not kept. */
  readonly flags: readonly string[];
  /** True when the arguments came from a JSON array (exec form). */
  readonly json: boolean;
  /** ONBUILD's trigger instruction; `args` is then empty. */
  readonly sub?: AstNode;
  readonly heredocs: readonly Heredoc[];
  /** The logical line after joining continuations (comment and empty lines dropped). */
  readonly original: string;
  /** First and last physical line (1-based), heredoc bodies included. */
  readonly startLine: number;
  readonly endLine: number;
  /** The comment lines right above (blank lines between do not break the block). */
  readonly comments: readonly string[];
}

/** A parser directive (`# syntax=`, `# escape=`, `# check=`) from the top of the file. */
export interface Directive {
  /** Lower-cased name. */
  readonly name: 'syntax' | 'escape' | 'check';
  readonly value: string;
  readonly line: number;
}

/** A problem that BuildKit reports but does not fail on (empty continuation lines). */
export interface ParseWarning {
  readonly short: string;
  readonly detail: string;
  readonly url: string;
  readonly line: number;
}

/** What `parseDockerfile` returns. */
export interface ParsedDockerfile {
  /** The name used in messages (`Dockerfile` unless the caller passed one). */
  readonly file: string;
  readonly directives: readonly Directive[];
  readonly escapeChar: '\\' | '`';
  readonly nodes: readonly AstNode[];
  readonly warnings: readonly ParseWarning[];
}
