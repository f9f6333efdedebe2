/**
 * @module build/parser/parse
 * `parseDockerfile`: physical lines → logical lines → `AstNode`s, following BuildKit's
 * `parser.Parse` step by step: directives at the top, comments collected for the next
 * instruction, continuations joined (comment lines and empty lines inside them skipped, the
 * latter with a warning), the line shaped per instruction, then heredoc bodies read for
 * RUN/COPY/ADD. Errors are CairnError 'invalid-document' naming `file:line`.
 */
import { goTrimLeft, goTrimSpace } from '../shell/chars.js';
import type { AstNode, Directive, Heredoc, ParsedDockerfile, ParseWarning } from './ast.js';
import { DirectiveParser } from './directives.js';
import { dockerfileError, InstructionError } from './error.js';
import { heredocsFromLine, type HeredocMarker } from './heredoc.js';
import { newNodeFromLine, type RawNode } from './line-parsers.js';
import {
  continuationRegex,
  isComment,
  isEmptyContinuationLine,
  LINE_TOO_LONG,
  LineScanner,
  trimContinuation,
  trimNewline,
} from './lines.js';

/** Options for `parseDockerfile`. */
export interface ParseOptions {
  /** The name errors use (`Dockerfile:7: …`). Default `Dockerfile`. */
  file?: string;
}

const HEREDOC_INSTRUCTIONS = new Set(['add', 'copy', 'run']);
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

function canContainHeredoc(node: RawNode): boolean {
  const target = node.instruction.toLowerCase() === 'onbuild' && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(target.instruction.toLowerCase()) && !target.json;
}

function toAst(raw: RawNode, start: number, end: number, comments: string[], heredocs: Heredoc[]): AstNode {
  const node: AstNode = {
    instruction: raw.instruction,
    args: raw.args,
    flags: raw.flags,
    json: raw.json,
    heredocs,
    original: raw.original,
    startLine: start,
    endLine: end,
    comments,
    ...(raw.sub ? { sub: toAst(raw.sub, start, end, [], []) } : {}),
  };
  return node;
}

/**
 * Parses a Dockerfile into instructions with line ranges; nothing is expanded or validated per
 * instruction (see `parseInstructions`).
 *
 * @throws CairnError 'invalid-document' (`Dockerfile:3: unterminated heredoc`, `file with no
 *   instructions`, a non-string JSON array, `ENV must have two arguments`, a bad or repeated
 *   directive, a line over 65535 bytes) with data `{ file, line, endLine, reason }`.
 * @example parseDockerfile('FROM alpine\nRUN echo hi\n').nodes[1]?.args // ['echo hi']
 */
export function parseDockerfile(source: string | Uint8Array, options: ParseOptions = {}): ParsedDockerfile {
  const file = options.file ?? 'Dockerfile';
  // TextDecoder drops a UTF-8 byte-order mark; a string may still start with one.
  let text = typeof source === 'string' ? source : new TextDecoder('utf-8').decode(source);
  if (text.startsWith('\uFEFF')) text = text.slice(1);

  let escape: '\\' | '`' = '\\';
  let continuation = continuationRegex(escape);
  const directiveParser = new DirectiveParser();
  const directives: Directive[] = [];
  const warnings: ParseWarning[] = [];
  const nodes: AstNode[] = [];
  const scanner = new LineScanner(text);
  let currentLine = 0;
  let comments: string[] = [];

  /** Trims a physical line, feeds the directive parser; comments come back empty. */
  const processLine = (raw: string, stripLeft: boolean): [string, boolean] => {
    let token = trimNewline(raw);
    if (stripLeft) token = goTrimLeft(token);
    let found: Directive | undefined;
    try {
      found = directiveParser.parseLine(token);
      if (found?.name === 'escape') {
        if (found.value !== '`' && found.value !== '\\') {
          throw new InstructionError(`invalid escape token '${found.value}' does not match \` or \\`);
        }
        escape = found.value;
        continuation = continuationRegex(escape);
      }
    } catch (err) {
      // BuildKit locates these one line early (a 0-based counter); we name the line itself.
      if (err instanceof InstructionError) throw dockerfileError(file, currentLine + 1, currentLine + 1, err.message);
      throw err;
    }
    if (found) directives.push(found);
    return [isComment(token) ? '' : token, found !== undefined];
  };

  for (let raw = scanner.next(); raw !== undefined; raw = scanner.next()) {
    if (isComment(raw)) {
      const comment = goTrimSpace(raw.slice(1));
      comments = comment === '' ? [] : [...comments, comment];
    }
    const [first, isDirective] = processLine(raw, true);
    if (isDirective) comments = comments.slice(0, -1);
    currentLine++;
    const startLine = currentLine;

    let [part, endOfLine] = trimContinuation(first, continuation);
    if (endOfLine && part.length === 0) continue;
    let line = part;
    let hasEmptyContinuationLine = false;
    while (!endOfLine) {
      const next = scanner.next();
      if (next === undefined) break;
      const [processed] = processLine(next, false);
      currentLine++;
      if (isComment(next)) continue;
      if (isEmptyContinuationLine(processed)) {
        hasEmptyContinuationLine = true;
        continue;
      }
      [part, endOfLine] = trimContinuation(processed, continuation);
      line += part;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        short: `Empty continuation line found in: ${line}`,
        detail: 'Empty continuation lines will become errors in a future release',
        url: EMPTY_CONTINUATION_URL,
        line: currentLine,
      });
    }

    let node: RawNode;
    let markers: HeredocMarker[] = [];
    try {
      node = newNodeFromLine(line, escape);
      if (canContainHeredoc(node) && line.includes('<<')) markers = heredocsFromLine(line);
    } catch (err) {
      if (err instanceof InstructionError) throw dockerfileError(file, startLine, currentLine, err.message, err.extra);
      throw err;
    }

    const heredocs: Heredoc[] = [];
    for (const marker of markers) {
      let content = '';
      let terminated = false;
      for (let body = scanner.next(); body !== undefined; body = scanner.next()) {
        currentLine++;
        let candidate = trimNewline(body);
        if (marker.chomp) candidate = candidate.replace(/^\t+/, '');
        if (candidate === marker.name) {
          terminated = true;
          break;
        }
        content += body;
      }
      if (!terminated) throw dockerfileError(file, startLine, currentLine, 'unterminated heredoc', { heredoc: marker.name });
      heredocs.push({ ...marker, content });
    }

    nodes.push(toAst(node, startLine, currentLine, comments, heredocs));
    comments = [];
  }

  if (nodes.length === 0) throw dockerfileError(file, Math.max(1, currentLine), 0, 'file with no instructions');
  if (scanner.tooLong) throw dockerfileError(file, currentLine + 1, 0, LINE_TOO_LONG);
  return { file, directives, escapeChar: escape, nodes, warnings };
}
