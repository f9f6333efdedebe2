import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { JsonSyntaxError, MAX_DEPTH, nodeToValue, parseJsonNodes } from '../../src/oci/json.js';

/** What JSON.parse says: the value, or that it throws. */
function reference(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function ours(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: nodeToValue(parseJsonNodes(text)) };
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    return { ok: false };
  }
}

describe('the lossless JSON reader', () => {
  test('property: gives JSON.parse values for any JSON text', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(ours(text)).toEqual(reference(text));
      }),
      { numRuns: 500 },
    );
  });

  test('property: accepts and refuses exactly what JSON.parse does, on mangled JSON', () => {
    const mangled = fc
      .tuple(fc.json(), fc.nat(), fc.nat(), fc.constantFrom('', ' ', '"', ',', '}', ']', '\\', '\u0001', '0', '-', '.', 'e', 'nul'))
      .map(([text, at, len, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (len % 3));
      });
    fc.assert(
      fc.property(mangled, (text) => {
        expect(ours(text).ok).toBe(reference(text).ok);
      }),
      { numRuns: 2000 },
    );
  });

  test('keeps duplicate members, number literals and escapes', () => {
    const node = parseJsonNodes('{"a":1.0,"a":"\\u0041","b":[1e3]}');
    expect(node).toEqual({
      kind: 'object',
      members: [
        { key: 'a', value: { kind: 'number', literal: '1.0', value: 1 } },
        { key: 'a', value: { kind: 'string', value: 'A', escaped: true } },
        { key: 'b', value: { kind: 'array', items: [{ kind: 'number', literal: '1e3', value: 1000 }] } },
      ],
    });
    expect(nodeToValue(node)).toEqual({ a: 'A', b: [1000] });
  });

  test('"__proto__" becomes an own property, as with JSON.parse', () => {
    const value = nodeToValue(parseJsonNodes('{"__proto__":{"x":1}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
  });

  test('refuses nesting deeper than MAX_DEPTH', () => {
    expect(() => parseJsonNodes('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))).not.toThrow();
    expect(() => parseJsonNodes('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1))).toThrow(/nested deeper/);
  });

  test('names the offset of a syntax error', () => {
    expect(() => parseJsonNodes('{"a" 1}')).toThrow(/expected ':' at offset 5/);
    expect(() => parseJsonNodes('')).toThrow(/end of input/);
  });
});
