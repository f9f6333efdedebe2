/**
 * @module build/parser/run-options
 * RUN's option flags: `--mount` (CSV `type=cache,target=/x,…`), `--network`, `--security`,
 * `--device`, checked as BuildKit's `commands_run*.go` do. Mount values may use build args, so
 * at parse time only the CSV syntax and the no-variables rule for `from=` are checked; the
 * builder calls `parseMount` with its expander to get the typed mount.
 */
import { goQuote } from '../shell/chars.js';
import { InstructionError, unlocated } from './error.js';
import { parseGoBool, parseGoUint, parseRamBytes } from './go-values.js';

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';
export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type CacheSharing = 'shared' | 'private' | 'locked';

/** A parsed `--mount`. Optional fields are absent when not given. */
export interface RunMount {
  readonly type: MountType;
  readonly from?: string;
  readonly source?: string;
  readonly target?: string;
  /** Defaults: false for cache and tmpfs, true for the others. */
  readonly readOnly: boolean;
  /** tmpfs `size=` in bytes. */
  readonly sizeLimit?: number;
  /** cache/secret `id=`. */
  readonly id?: string;
  readonly sharing?: CacheSharing;
  /** secret/ssh `required`. */
  readonly required: boolean;
  /** secret `env=`: the variable to expose the secret in. */
  readonly env?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** A parsed `--device`. */
export interface RunDevice {
  readonly name: string;
  readonly required: boolean;
}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const MOUNT_KEYS = [
  'type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid',
  'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env',
];

/** One CSV record, as tonistiigi/go-csvvalue reads it (Go encoding/csv rules, no lazy quotes). */
export function csvFields(input: string): string[] {
  let line = input.endsWith('\r\n') ? input.slice(0, -2) : input.endsWith('\n') ? input.slice(0, -1) : input;
  if (line === '') throw new InstructionError('EOF');
  const out: string[] = [];
  let pos = 0;
  const err = (at: number, what: string): never => {
    throw new InstructionError(`parse error on line 1, column ${at + 1}: ${what}`);
  };
  for (;;) {
    if (!line.startsWith('"')) {
      const i = line.indexOf(',');
      const field = i >= 0 ? line.slice(0, i) : line;
      const q = field.indexOf('"');
      if (q >= 0) err(pos + Buffer.byteLength(field.slice(0, q)), 'bare " in non-quoted-field');
      out.push(field);
      if (i < 0) return out;
      pos += Buffer.byteLength(field) + 1;
      line = line.slice(i + 1);
      continue;
    }
    line = line.slice(1);
    pos += 1;
    let field = '';
    for (;;) {
      const i = line.indexOf('"');
      if (i < 0) err(pos, 'extraneous or missing " in quoted-field');
      field += line.slice(0, i);
      pos += Buffer.byteLength(line.slice(0, i)) + 1;
      line = line.slice(i + 1);
      if (line.startsWith('"')) {
        field += '"';
        line = line.slice(1);
        pos += 1;
      } else if (line.startsWith(',')) {
        out.push(field);
        line = line.slice(1);
        pos += 1;
        break;
      } else if (line === '') {
        out.push(field);
        return out;
      } else {
        err(pos - 1, 'extraneous or missing " in quoted-field');
      }
    }
  }
}

function cut(field: string): [string, string, boolean] {
  const at = field.indexOf('=');
  return at < 0 ? [field, '', false] : [field.slice(0, at), field.slice(at + 1), true];
}

/** The parse-time check of a `--mount` value. @throws InstructionError */
export function checkMountSpec(spec: string): void {
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (e) {
    throw new InstructionError(`failed to parse csv mounts: ${(e as Error).message}`);
  }
  for (const field of fields) {
    const [key, value, ok] = cut(field);
    if (ok && key.toLowerCase() === 'from') {
      const idx = value.indexOf('$');
      if (idx !== -1 && idx !== value.length - 1) {
        throw new InstructionError(`'from' doesn't support variable expansion, define alias stage instead`);
      }
    }
  }
}

/**
 * Parses a `--mount` value, expanding each `key=value` value with `expand` (the builder's
 * build-arg expansion; identity by default).
 *
 * @throws CairnError 'invalid-document' with BuildKit's message (`unsupported mount type "x"`,
 *   …) and data `{ reason }`; errors thrown by `expand` pass through.
 * @example parseMount('type=cache,target=/root/.cache').readOnly // false
 */
export function parseMount(spec: string, expand: (value: string) => string = (v) => v): RunMount {
  return unlocated(() => mountFromSpec(spec, expand));
}

function mountFromSpec(spec: string, expand: (value: string) => string): RunMount {
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (e) {
    throw new InstructionError(`failed to parse csv mounts: ${(e as Error).message}`);
  }
  const m: { -readonly [K in keyof RunMount]: RunMount[K] } = { type: 'bind', readOnly: false, required: false };
  let roAuto = true;
  const bool = (key: string, value: string): boolean => {
    const b = parseGoBool(value);
    if (b === undefined) throw new InstructionError(`invalid value for ${key}: ${value}`);
    return b;
  };
  const unexpected = (key: string): never => {
    throw new InstructionError(`unexpected key '${key}' for mount type '${m.type}'`);
  };
  for (const field of fields) {
    const [rawKey, rawValue, hasValue] = cut(field);
    const key = rawKey.toLowerCase();
    if (!hasValue) {
      if (key === 'readonly' || key === 'ro') { m.readOnly = true; roAuto = false; continue; }
      if (key === 'readwrite' || key === 'rw') { m.readOnly = false; roAuto = false; continue; }
      if (key === 'required') {
        if (m.type === 'secret' || m.type === 'ssh') { m.required = true; continue; }
        unexpected(key);
      }
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
    }
    const value = expand(rawValue);
    switch (key) {
      case 'type': {
        const t = value.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(t)) throw new InstructionError(`unsupported mount type ${goQuote(value)}`);
        m.type = t;
        break;
      }
      case 'from': m.from = value; break;
      case 'source': case 'src': m.source = value; break;
      case 'target': case 'dst': case 'destination': m.target = value; break;
      case 'readonly': case 'ro': m.readOnly = bool(key, value); roAuto = false; break;
      case 'readwrite': case 'rw': m.readOnly = !bool(key, value); roAuto = false; break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') unexpected(key);
        m.required = bool(key, value);
        break;
      case 'size': {
        if (m.type !== 'tmpfs') unexpected(key);
        const size = parseRamBytes(value);
        if (size === undefined) throw new InstructionError(`invalid value for ${key}: ${value}`);
        m.sizeLimit = size;
        break;
      }
      case 'id': m.id = value; break;
      case 'sharing': {
        const s = value.toLowerCase() as CacheSharing;
        if (!SHARING.includes(s)) throw new InstructionError(`unsupported sharing value ${goQuote(value)}`);
        m.sharing = s;
        break;
      }
      case 'mode': case 'uid': case 'gid': {
        const n = parseGoUint(value, key === 'mode' ? 8 : 10, 32);
        if (n === undefined) throw new InstructionError(`invalid value ${value} for ${key}`);
        m[key] = n;
        break;
      }
      case 'env': m.env = value; break;
      default:
        throw new InstructionError(`unexpected key '${key}' in '${field}'`, { known: MOUNT_KEYS });
    }
  }
  if (m.type !== 'secret' && m.type !== 'ssh' && m.type !== 'cache') {
    for (const k of ['mode', 'uid', 'gid'] as const) {
      if (m[k] !== undefined) throw new InstructionError(`${k} not allowed for ${goQuote(m.type)} type mounts`);
    }
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined && m.from !== '') throw new InstructionError('secret mount should not have a from');
    if (m.sharing !== undefined) throw new InstructionError('secret mount should not define sharing');
    if (!m.source && !m.target && !m.id) throw new InstructionError('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new InstructionError("both source and id can't be set");
  }
  if (m.sharing !== undefined && m.type !== 'cache') {
    throw new InstructionError(`invalid cache sharing set for ${m.type} mount`);
  }
  return m;
}

/**
 * Parses a `--device` value (`name`, `name=x`, `required[=bool]`).
 *
 * @throws CairnError 'invalid-document' with data `{ reason }`.
 */
export function parseDevice(spec: string): RunDevice {
  return unlocated(() => deviceFromSpec(spec));
}

/** `parseDevice` for the parser, which locates the error itself. @throws InstructionError */
export function deviceFromSpec(spec: string): RunDevice {
  let fields: string[];
  try {
    fields = csvFields(spec);
  } catch (e) {
    throw new InstructionError(`failed to parse csv devices: ${(e as Error).message}`);
  }
  let name = '';
  let required = false;
  for (const field of fields) {
    const [rawKey, value, hasValue] = cut(field);
    const key = rawKey.toLowerCase();
    if (!hasValue) {
      if (key === 'required') { required = true; continue; }
      if (name === '') { name = field; continue; }
      throw new InstructionError(`invalid field '${field}' must be a key=value pair`);
    }
    if (key === 'name') {
      if (name !== '') throw new InstructionError(`device name already set to ${name}`);
      name = value;
    } else if (key === 'required') {
      const b = parseGoBool(value);
      if (b === undefined) throw new InstructionError(`invalid value for ${key}: ${value}`);
      required = b;
    } else if (name === '') {
      name = field;
    } else {
      throw new InstructionError(`unexpected key '${key}' in '${field}'`);
    }
  }
  return { name, required };
}
