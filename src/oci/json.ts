/**
 * @module oci/json
 * A small lossless JSON reader for the document validators.
 *
 * Why not `JSON.parse` alone: the reference validator (image-spec `schema/validator.go`)
 * first decodes a document into Go structs with `encoding/json`, which type-checks *every*
 * occurrence of a duplicated key, matches keys case-insensitively, refuses `1.0` or `1e3` for
 * an integer field, and reads a time from the raw (unescaped) string. `JSON.parse` keeps only
 * the last duplicate and forgets how a number or string was written. So this reader keeps the
 * members in order with their literal forms (`JsonNode`), and `nodeToValue` gives exactly what
 * `JSON.parse` would have returned, for the schema step and for callers.
 *
 * Accepts exactly RFC 8259 JSON (what both `JSON.parse` and Go accept). Nesting deeper than
 * `MAX_DEPTH` is refused: no image document comes close, and recursion stays far from the
 * stack limit (Go's own limit is 10000).
 */

export type JsonNode =
  | { readonly kind: 'object'; readonly members: readonly JsonMember[] }
  | { readonly kind: 'array'; readonly items: readonly JsonNode[] }
  /** `escaped`: the literal contained a backslash escape. */
  | { readonly kind: 'string'; readonly value: string; readonly escaped: boolean }
  | { readonly kind: 'number'; readonly literal: string; readonly value: number }
  | { readonly kind: 'boolean'; readonly value: boolean }
  | { readonly kind: 'null' };

export interface JsonMember {
  readonly key: string;
  readonly value: JsonNode;
}

export const MAX_DEPTH = 512;

/** Thrown by `parseJsonNodes`; `offset` is a UTF-16 index into the text. */
export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Decodes UTF-8 like Go does (invalid sequences become U+FFFD) and keeps a BOM, which JSON refuses. */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

/** Parses JSON text into nodes. @throws JsonSyntaxError */
export function parseJsonNodes(text: string): JsonNode {
  const reader = new Reader(text);
  reader.skipWs();
  const node = reader.value(0);
  reader.skipWs();
  if (reader.pos !== text.length) reader.fail('unexpected data after the top-level value');
  return node;
}

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(what: string): never {
    const ch = this.text[this.pos];
    const near = ch === undefined ? 'end of input' : `${JSON.stringify(ch)}`;
    throw new JsonSyntaxError(`${what} at offset ${this.pos} (${near})`, this.pos);
  }

  skipWs(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.text);
    this.pos = WS.lastIndex;
  }

  value(depth: number): JsonNode {
    const ch = this.text[this.pos];
    switch (ch) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.word('true', { kind: 'boolean', value: true });
      case 'f':
        return this.word('false', { kind: 'boolean', value: false });
      case 'n':
        return this.word('null', { kind: 'null' });
      default:
        return this.number();
    }
  }

  word(word: string, node: JsonNode): JsonNode {
    if (!this.text.startsWith(word, this.pos)) this.fail('invalid literal');
    this.pos += word.length;
    return node;
  }

  number(): JsonNode {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) this.fail(this.pos >= this.text.length ? 'unexpected end of input' : 'unexpected character');
    this.pos = NUMBER.lastIndex;
    return { kind: 'number', literal: m[0], value: Number(m[0]) };
  }

  string(): JsonNode & { kind: 'string' } {
    STRING.lastIndex = this.pos;
    const m = STRING.exec(this.text);
    if (m === null) this.fail('invalid string');
    this.pos = STRING.lastIndex;
    const token = m[0];
    const escaped = token.includes('\\');
    // The token is a valid JSON string literal, so JSON.parse decodes escapes exactly.
    return { kind: 'string', value: escaped ? (JSON.parse(token) as string) : token.slice(1, -1), escaped };
  }

  object(depth: number): JsonNode {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++; // {
    const members: JsonMember[] = [];
    this.skipWs();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return { kind: 'object', members };
    }
    for (;;) {
      if (this.text[this.pos] !== '"') this.fail('expected a string key');
      const key = this.string().value;
      this.skipWs();
      if (this.text[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      this.skipWs();
      members.push({ key, value: this.value(depth) });
      this.skipWs();
      const sep = this.text[this.pos];
      this.pos++;
      if (sep === '}') return { kind: 'object', members };
      if (sep !== ',') {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
      this.skipWs();
    }
  }

  array(depth: number): JsonNode {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++; // [
    const items: JsonNode[] = [];
    this.skipWs();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return { kind: 'array', items };
    }
    for (;;) {
      items.push(this.value(depth));
      this.skipWs();
      const sep = this.text[this.pos];
      this.pos++;
      if (sep === ']') return { kind: 'array', items };
      if (sep !== ',') {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
      this.skipWs();
    }
  }
}

/** The value `JSON.parse` returns for the same text (last duplicate key wins). */
export function nodeToValue(node: JsonNode): unknown {
  switch (node.kind) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const { key, value } of node.members) {
        // A plain assignment to "__proto__" would set the prototype; JSON.parse makes a property.
        if (key === '__proto__') {
          Object.defineProperty(out, key, { value: nodeToValue(value), enumerable: true, writable: true, configurable: true });
        } else {
          out[key] = nodeToValue(value);
        }
      }
      return out;
    }
    case 'array':
      return node.items.map(nodeToValue);
    case 'null':
      return null;
    default:
      return node.value;
  }
}
