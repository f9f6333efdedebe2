/**
 * @module build/parser
 * The Dockerfile front end: `parseDockerfile` (text → `AstNode`s with line ranges, BuildKit's
 * grammar), `parseInstructions` (AST → typed stages and instructions, BuildKit's per-instruction
 * checks), `dumpAst` (BuildKit's AST dump). Expansion lives in `../shell`.
 */
export { parseDockerfile } from './parse.js';
export type { ParseOptions } from './parse.js';
export type { AstNode, Directive, Heredoc, ParsedDockerfile, ParseWarning } from './ast.js';
export { dumpAst, dumpNode } from './dump.js';
export { detectSyntax, findDirective } from './directives.js';
export type { FoundDirective } from './directives.js';
export { chompHeredocContent, parseHeredoc } from './heredoc.js';
export type { HeredocMarker } from './heredoc.js';
export { ShellLexer, expandWord, expandWords } from '../shell/index.js';
export type { ShellEnv, ShellLexerOptions, ProcessResult } from '../shell/index.js';
export { parseInstructions, parseInstruction } from './instructions.js';
export type { FromInstruction } from './instructions.js';
export type * from './instruction-types.js';
export { parseMount, parseDevice } from './run-options.js';
export { dockerfileError } from './error.js';
