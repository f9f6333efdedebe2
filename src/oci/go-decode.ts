/**
 * @module oci/go-decode
 * Step one of the reference validator, restated: would Go's `encoding/json` decode this
 * document into the image-spec structs (`specs-go/v1`) without a type error? The rules that
 * matter, all of which differ from a JSON-schema check:
 * - `null` is accepted for every field (it leaves the Go value unchanged);
 * - object keys match struct fields exactly or case-insensitively (Go's fold: ASCII case,
 *   plus `ſ`→S, `K` (Kelvin)→K, `ı`/`İ`→I), and every occurrence of a duplicated key is decoded;
 * - integers must be written as integers (`1.0` and `1e3` fail) within int64;
 * - `[]byte` takes padded standard base64, `time.Time` an RFC 3339 string (unescaped);
 * - members the struct does not name are ignored.
 */
import { isGoBase64, isRfc3339 } from './formats.js';
import type { JsonNode } from './json.js';

export type GoType =
  | 'string'
  | 'int'
  | 'bool'
  | 'time'
  | 'bytes'
  | 'empty-struct'
  | { readonly slice: GoType }
  | { readonly map: GoType }
  | { readonly struct: Readonly<Record<string, GoType>> };

export type Path = readonly (string | number)[];

export interface Problem {
  readonly path: Path;
  readonly message: string;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The first decoding error, in document order, or undefined when Go would decode it. */
export function goDecodeProblem(node: JsonNode, type: GoType, path: Path = []): Problem | undefined {
  if (node.kind === 'null') return undefined;
  const fail = (want: string): Problem => ({ path, message: `must be ${want}, not ${describe(node)}` });
  if (typeof type === 'string') {
    switch (type) {
      case 'string':
        return node.kind === 'string' ? undefined : fail('a string');
      case 'bool':
        return node.kind === 'boolean' ? undefined : fail('true or false');
      case 'int':
        if (node.kind !== 'number') return fail('an integer');
        if (!/^-?(?:0|[1-9][0-9]*)$/.test(node.literal)) {
          return { path, message: `must be an integer written without fraction or exponent, not ${node.literal}` };
        }
        if (BigInt(node.literal) < INT64_MIN || BigInt(node.literal) > INT64_MAX) {
          return { path, message: `${node.literal} is out of range for a 64-bit integer` };
        }
        return undefined;
      case 'time':
        if (node.kind !== 'string') return fail('an RFC 3339 date-time string');
        // Go parses the raw bytes between the quotes, so any escape makes the time invalid.
        return !node.escaped && isRfc3339(node.value)
          ? undefined
          : { path, message: `${JSON.stringify(node.value)} is not an RFC 3339 date-time` };
      case 'bytes':
        // Go fills a []byte from base64 text, or element by element from an array of bytes.
        if (node.kind === 'array') return goDecodeProblem(node, { slice: 'int' }, path) ?? byteRange(node, path);
        if (node.kind !== 'string') return fail('a base64 string');
        return isGoBase64(node.value) ? undefined : { path, message: 'is not valid base64 (standard alphabet, padded)' };
      case 'empty-struct':
        return node.kind === 'object' ? undefined : fail('an object');
    }
  }
  if ('slice' in type) {
    if (node.kind !== 'array') return fail('an array');
    for (const [i, item] of node.items.entries()) {
      const problem = goDecodeProblem(item, type.slice, [...path, i]);
      if (problem) return problem;
    }
    return undefined;
  }
  if (node.kind !== 'object') return fail('an object');
  if ('map' in type) {
    for (const { key, value } of node.members) {
      const problem = goDecodeProblem(value, type.map, [...path, key]);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const { key, value } of node.members) {
    const field = structField(type.struct, key);
    if (field === undefined) continue;
    const problem = goDecodeProblem(value, field, [...path, key]);
    if (problem) return problem;
  }
  return undefined;
}

function byteRange(node: JsonNode & { kind: 'array' }, path: Path): Problem | undefined {
  for (const [i, item] of node.items.entries()) {
    if (item.kind === 'number' && (item.value < 0 || item.value > 255)) {
      return { path: [...path, i], message: `${item.literal} is out of range for a byte` };
    }
  }
  return undefined;
}

function structField(fields: Readonly<Record<string, GoType>>, key: string): GoType | undefined {
  if (Object.hasOwn(fields, key)) return fields[key];
  const folded = goFold(key);
  for (const name of Object.keys(fields)) {
    if (goFold(name) === folded) return fields[name];
  }
  return undefined;
}

/**
 * Go's key folding for struct fields: ASCII letters compare without case, and the four
 * non-ASCII letters whose simple case folding reaches an ASCII letter fold to it.
 */
export function goFold(name: string): string {
  let out = '';
  for (const ch of name) {
    switch (ch) {
      case '\u017f': // ſ LATIN SMALL LETTER LONG S
        out += 'S';
        break;
      case '\u212a': // K KELVIN SIGN
        out += 'K';
        break;
      case '\u0131': // ı LATIN SMALL LETTER DOTLESS I
      case '\u0130': // İ LATIN CAPITAL LETTER I WITH DOT ABOVE
        out += 'I';
        break;
      default:
        out += ch >= 'a' && ch <= 'z' ? ch.toUpperCase() : ch;
    }
  }
  return out;
}

/**
 * The value Go would leave in the field at `path` after decoding: a later occurrence of a key
 * replaces an earlier one, a later object merges into the struct, and `null` changes nothing,
 * except that with `nullResets` (the field is a slice, map, pointer or interface) it resets the
 * field to nil. Used where the reference checks the decoded struct (config `Env`) and for sniffing.
 */
export function goLookup(node: JsonNode | undefined, path: readonly string[], nullResets = false): JsonNode | undefined {
  const [name, ...rest] = path;
  if (name === undefined) return node;
  if (node?.kind !== 'object') return undefined;
  const folded = goFold(name);
  let found: JsonNode | undefined;
  for (const member of node.members) {
    if (goFold(member.key) !== folded) continue;
    if (member.value.kind === 'null') {
      if (rest.length === 0 && nullResets) found = undefined;
      continue;
    }
    found = goLookup(member.value, rest, nullResets) ?? found;
  }
  return found;
}

export function describe(node: JsonNode): string {
  switch (node.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return `a string (${JSON.stringify(node.value.length > 40 ? `${node.value.slice(0, 37)}...` : node.value)})`;
    case 'number':
      return `a number (${node.literal})`;
    case 'boolean':
      return `a boolean (${String(node.value)})`;
    case 'null':
      return 'null';
  }
}
