/**
 * @module build/parser/dump
 * BuildKit's `Node.Dump()` text, the format of the parser conformance `result` files: one
 * `(keyword ["--flag"…] "arg"…)` line per instruction, keyword lower-cased, strings quoted as Go's
 * `strconv.Quote` does, ONBUILD's trigger nested in parentheses.
 */
import { goQuote, goQuoteList } from '../shell/chars.js';
import type { AstNode } from './ast.js';

/** One instruction without its outer parentheses. */
export function dumpNode(node: AstNode): string {
  let out = node.instruction.toLowerCase();
  if (node.flags.length > 0) out += ` ${goQuoteList(node.flags)}`;
  for (const arg of node.args) out += ` ${goQuote(arg)}`;
  if (node.sub) out += ` (${dumpNode(node.sub)})`;
  // Go trims the whole string with strings.TrimSpace; only an empty keyword leaves a leading space.
  return out.replace(/^ +/, '');
}

/**
 * The dump of a whole file, without the final newline (the `result` files are this + `\n`).
 *
 * @example dumpAst(parseDockerfile('FROM x\nCMD ["a"]').nodes) // '(from "x")\n(cmd "a")'
 */
export function dumpAst(nodes: readonly AstNode[]): string {
  return nodes.map((n) => `(${dumpNode(n)})`).join('\n');
}
