/**
 * @module oci/schema-check
 * Step two of the reference validator: the image-spec JSON Schemas (draft-04), reduced to the
 * keywords they use and written as data in ./rules.ts. Unlike the Go step this one sees the
 * value `JSON.parse` gives (last duplicate wins), matches keys exactly, and refuses `null`
 * unless the schema says `oneOf [..., null]` (`nullable` here).
 *
 * `check` holds cairn's own rules, which are stricter than the reference in a few places
 * (spec-notes/oci-image-spec.md lists them); they run after the schema keywords of a node.
 */
import { isAbsoluteUri } from './uri.js';
import { isRfc3339, quote } from './formats.js';
import type { Path, Problem } from './go-decode.js';

export interface Schema {
  readonly type?: 'string' | 'integer' | 'boolean' | 'object' | 'array';
  /** `oneOf: [<this schema>, {type: null}]`. */
  readonly nullable?: boolean;
  readonly pattern?: RegExp;
  /** Describes `pattern` in messages ("a media type"). */
  readonly patternName?: string;
  readonly format?: 'uri' | 'date-time';
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly items?: Schema;
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, Schema>>;
  /** `patternProperties: {".{1,}": ...}`: every key holding a character other than LF. */
  readonly values?: Schema;
  /** A cairn rule on the value, returning a problem message. */
  readonly check?: (value: unknown) => string | undefined;
}

export interface SchemaOptions {
  /**
   * Treat `null` in an optional member as if the member were absent. Used for Docker media
   * types only: Docker writes nil Go slices and maps as `null` (`"Env": null`), and the
   * reference would refuse images Docker itself produced.
   */
  readonly nullIsAbsent: boolean;
}

export function schemaProblem(value: unknown, schema: Schema, path: Path, options: SchemaOptions): Problem | undefined {
  const at = (message: string): Problem => ({ path, message });
  if (value === null && schema.nullable) return undefined;
  if (schema.type !== undefined && !hasType(value, schema.type)) {
    return at(`must be ${article(schema.type)}${schema.nullable ? ' or null' : ''}, not ${jsonType(value)}`);
  }
  if (typeof value === 'string') {
    if (schema.enum && !schema.enum.includes(value)) {
      return at(`must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, not ${quote(value)}`);
    }
    if (schema.pattern && !schema.pattern.test(value)) {
      return at(`${quote(value)} is not ${schema.patternName ?? `matching ${String(schema.pattern)}`}`);
    }
    if (schema.format === 'uri' && !isAbsoluteUri(value)) return at(`${quote(value)} is not an absolute URI`);
    if (schema.format === 'date-time' && !isRfc3339(value)) return at(`${quote(value)} is not an RFC 3339 date-time`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return at(`must be at least ${schema.minimum}, not ${value}`);
    if (schema.maximum !== undefined && value > schema.maximum) return at(`must be at most ${schema.maximum}, not ${value}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      return at(`must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`);
    }
    if (schema.items) {
      for (const [i, item] of value.entries()) {
        const problem = schemaProblem(item, schema.items, [...path, i], options);
        if (problem) return problem;
      }
    }
  }
  if (isObject(value)) {
    const problem = objectProblem(value, schema, path, options);
    if (problem) return problem;
  }
  const message = schema.check?.(value);
  return message === undefined ? undefined : at(message);
}

function objectProblem(value: Record<string, unknown>, schema: Schema, path: Path, options: SchemaOptions): Problem | undefined {
  for (const name of schema.required ?? []) {
    if (!Object.hasOwn(value, name)) return { path: [...path, name], message: 'is required' };
  }
  const required = new Set(schema.required);
  for (const [key, member] of Object.entries(value)) {
    const sub = schema.properties && Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    if (sub !== undefined) {
      if (member === null && options.nullIsAbsent && !required.has(key)) continue;
      const problem = schemaProblem(member, sub, [...path, key], options);
      if (problem) return problem;
    }
    if (schema.values !== undefined && /[^\n]/.test(key)) {
      const problem = schemaProblem(member, schema.values, [...path, key], options);
      if (problem) return problem;
    }
  }
  return undefined;
}

function hasType(value: unknown, type: NonNullable<Schema['type']>): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function article(type: string): string {
  return type === 'integer' || type === 'object' || type === 'array' ? `an ${type}` : `a ${type}`;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? `an integer (${value})` : `a number (${value})`;
  if (typeof value === 'string') return `a string (${quote(value)})`;
  return article(typeof value);
}
