/**
 * @module build/parser/line-parsers
 * Per-instruction argument shaping (BuildKit's `line_parsers.go`): which instructions take JSON
 * or shell form, which are split into words, ENV/LABEL `key=value` triples (and the legacy
 * `ENV key value…`), HEALTHCHECK's leading type word, ONBUILD's nested instruction. A JSON array
 * that does not parse falls back to shell form; a parsed array holding anything but strings is
 * an error.
 */
import { goQuote, goTrimLeft } from '../shell/chars.js';
import { InstructionError } from './error.js';
import { parseWords, splitCommand, splitWhitespace } from './split.js';

/** An instruction before line numbers and heredocs are attached. */
export interface RawNode {
  instruction: string;
  args: string[];
  flags: string[];
  json: boolean;
  sub?: RawNode;
  original: string;
}

interface Shaped {
  args: string[];
  json: boolean;
  sub?: RawNode;
}

type LineParser = (rest: string, escape: string) => Shaped;

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';
const none = (): Shaped => ({ args: [], json: false });

/** Go's json decoder replaces unpaired surrogate escapes with U+FFFD. */
const wellFormed = (s: string): string => s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

/** A JSON value Go could not decode into `any` (a number beyond float64), found anywhere inside. */
function hasOverflow(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(hasOverflow);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(hasOverflow);
  return false;
}

/** The elements of a JSON string array, undefined when `rest` is not JSON. @throws InstructionError */
export function parseJsonArray(rest: string): string[] | undefined {
  const text = goTrimLeft(rest);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Go reports an unrepresentable number as a decode error, which means "not JSON" here.
  if (!Array.isArray(value) || hasOverflow(value)) return undefined;
  const out: string[] = [];
  for (const el of value as unknown[]) {
    if (typeof el !== 'string') throw new InstructionError(NOT_STRING_ARRAY);
    out.push(wellFormed(el));
  }
  return out;
}

const parseIgnore: LineParser = () => ({ args: [''], json: false });

const parseString: LineParser = (rest) => (rest === '' ? none() : { args: [rest], json: false });

const parseStringsWhitespaceDelimited: LineParser = (rest) =>
  rest === '' ? none() : { args: splitWhitespace(rest), json: false };

const parseMaybeJSON: LineParser = (rest) => {
  if (rest === '') return none();
  const list = parseJsonArray(rest);
  return list ? { args: list, json: true } : { args: [rest], json: false };
};

const parseMaybeJSONToList: LineParser = (rest, escape) => {
  const list = parseJsonArray(rest);
  return list ? { args: list, json: true } : parseStringsWhitespaceDelimited(rest, escape);
};

const parseNameOrNameVal: LineParser = (rest, escape) => ({ args: parseWords(rest, escape), json: false });

function parseNameVal(rest: string, escape: string, keyword: string): Shaped {
  const words = parseWords(rest, escape);
  if (words.length === 0) return none();
  // `KEY name value…` (legacy) when the first word has no `=`; else `KEY a=b c=d…`.
  if (!(words[0] as string).includes('=')) {
    const parts = splitWhitespace(rest, 2);
    if (parts.length < 2) throw new InstructionError(`${keyword} must have two arguments`);
    return { args: [parts[0] as string, parts[1] as string, ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const at = word.indexOf('=');
    if (at < 0) {
      throw new InstructionError(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    }
    args.push(word.slice(0, at), word.slice(at + 1), '=');
  }
  return { args, json: false };
}

const parseHealthConfig: LineParser = (rest, escape) => {
  // The type word (CMD, NONE…) is split off on white space; the rest is like CMD's argument.
  // (BuildKit tests bytes; for ASCII text that is these six characters.)
  const typ = /^[^\t\n\v\f\r ]*/.exec(rest)?.[0] ?? '';
  if (typ === '') return none();
  const cmd = parseMaybeJSON(rest.slice(typ.length).replace(/^[\t\n\v\f\r ]+/, ''), escape);
  return { args: [typ, ...cmd.args], json: cmd.json };
};

const parseSubCommand: LineParser = (rest, escape) => {
  if (rest === '') return none();
  return { args: [], json: false, sub: newNodeFromLine(rest, escape) };
};

const DISPATCH: Readonly<Record<string, LineParser>> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: (rest, escape) => parseNameVal(rest, escape, 'ENV'),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: (rest, escape) => parseNameVal(rest, escape, 'LABEL'),
  maintainer: parseString,
  onbuild: parseSubCommand,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** True for the 18 instructions BuildKit knows (any case). */
export function isKnownInstruction(keyword: string): boolean {
  return Object.prototype.hasOwnProperty.call(DISPATCH, keyword.toLowerCase());
}

/** Splits and shapes one logical line. @throws InstructionError */
export function newNodeFromLine(line: string, escape: string): RawNode {
  const { keyword, flags, rest } = splitCommand(line, escape);
  const key = keyword.toLowerCase();
  const fn = Object.prototype.hasOwnProperty.call(DISPATCH, key) ? DISPATCH[key] as LineParser : parseIgnore;
  const shaped = fn(rest, escape);
  const node: RawNode = { instruction: keyword, args: shaped.args, flags, json: shaped.json, original: line };
  if (shaped.sub) node.sub = shaped.sub;
  return node;
}
