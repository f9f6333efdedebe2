/**
 * @module build/parser/directives
 * Parser directives: `# syntax=…`, `# escape=…`, `# check=…` comment lines at the very top of a
 * Dockerfile (BuildKit's `directives.go`). Names are case-insensitive; the block ends at the
 * first line that is not a directive (an instruction, a blank line, any other comment, or an
 * unknown key); a repeated name is an error. `detectSyntax` also accepts `//` comments, a
 * first-line JSON object and a leading `#!` line, as BuildKit does when it picks a frontend.
 */
import { goTrimLeft } from '../shell/chars.js';
import type { Directive } from './ast.js';
import { InstructionError } from './error.js';

const NAMES = new Set(['syntax', 'escape', 'check']);
// Go's RE2 `\s` is ASCII white space only and its `.` excludes only `\n`; JavaScript's are
// different, so both are spelled out.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** Reads directive lines one at a time; after the first non-directive it ignores everything. */
export class DirectiveParser {
  private line: number;
  private done = false;
  private readonly seen = new Set<string>();

  constructor(private readonly comment = '#', startLine = 0) {
    this.line = startLine;
  }

  /** Feeds the next line (newline removed); returns the directive on it, if any. @throws InstructionError */
  parseLine(text: string): Directive | undefined {
    this.line++;
    if (this.done) return undefined;
    if (!text.startsWith(this.comment)) {
      this.done = true;
      return undefined;
    }
    const m = DIRECTIVE.exec(goTrimLeft(text.slice(this.comment.length)));
    const name = m?.[1]?.toLowerCase();
    if (!m || name === undefined || !NAMES.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) throw new InstructionError(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name: name as Directive['name'], value: m[2] as string, line: this.line };
  }

  /** All directives at the top of `text`. */
  parseAll(text: string): Directive[] {
    const out: Directive[] = [];
    for (const line of text.split('\n')) {
      if (this.done) break;
      const d = this.parseLine(line.replace(/\r$/, ''));
      if (d) out.push(d);
    }
    return out;
  }
}

/** A directive found by `detectSyntax` / `findDirective`. */
export interface FoundDirective {
  /** The value up to the first space (`docker/dockerfile:1`). */
  readonly value: string;
  /** The whole value (`docker/dockerfile:1 // opts`). */
  readonly cmdline: string;
  readonly line: number;
}

function find(key: string, text: string, anyFormat: boolean): FoundDirective | undefined {
  let data = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let line = 0;
  const nl = data.indexOf('\n');
  const first = nl < 0 ? data : data.slice(0, nl);
  if (first.startsWith('#!')) {
    data = nl < 0 ? '' : data.slice(nl + 1);
    line = 1;
  }
  const prefixes = anyFormat ? ['#', '//'] : ['#'];
  for (const prefix of prefixes) {
    let found: Directive[] = [];
    try {
      found = new DirectiveParser(prefix, line).parseAll(data);
    } catch {
      // A repeated directive: BuildKit keeps the ones read before the error.
    }
    const d = found.find((x) => x.name === key);
    if (d) return { value: d.value.split(' ')[0] as string, cmdline: d.value, line: d.line };
  }
  if (!anyFormat) return undefined;
  try {
    const obj: unknown = JSON.parse(data);
    if (typeof obj === 'object' && obj !== null && !Array.isArray(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      if (typeof v === 'string') return { value: v, cmdline: v, line };
    }
  } catch {
    // not JSON: no directive
  }
  return undefined;
}

/**
 * The `syntax` directive, in any of the forms BuildKit accepts when choosing a frontend.
 *
 * @example detectSyntax('# syntax=docker/dockerfile:1\nFROM x')?.value // 'docker/dockerfile:1'
 */
export function detectSyntax(text: string): FoundDirective | undefined {
  return find('syntax', text, true);
}

/** A `#`-style directive by name (`check`, `escape`…), shebang line allowed. */
export function findDirective(key: string, text: string): FoundDirective | undefined {
  return find(key.toLowerCase(), text, false);
}
