/**
 * @module build/parser/go-values
 * Go's value parsers that Dockerfile flags go through, with Go's error wording: durations
 * (`time.ParseDuration`, for HEALTHCHECK), integers (`strconv.ParseInt`/`ParseUint`), booleans
 * (`strconv.ParseBool`), and sizes (`go-units.RAMInBytes`, for tmpfs mounts).
 */
import { goQuote } from '../shell/chars.js';
import { InstructionError } from './error.js';

const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5
  'μs': 1_000n, // U+03BC
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_INT64 = (1n << 63n) - 1n;

/**
 * Go's `time.ParseDuration`, in nanoseconds (`1h30m`, `1.5s`, `300ms`, `-2us`, `0`).
 * Numbers above 2^53 ns (~104 days) lose precision in the returned number.
 *
 * @throws InstructionError with Go's message (`time: invalid duration "x"`).
 */
export function parseGoDuration(orig: string): number {
  const invalid = (): never => {
    throw new InstructionError(`time: invalid duration ${goQuote(orig)}`);
  };
  let s = orig;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') invalid();
  let total = 0n;
  while (s !== '') {
    if (!/^[0-9.]/.test(s)) invalid();
    const intPart = /^[0-9]*/.exec(s)?.[0] ?? '';
    s = s.slice(intPart.length);
    let v = intPart === '' ? 0n : BigInt(intPart);
    if (v > 1n << 63n) invalid();
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s.startsWith('.')) {
      const digits = /^\.([0-9]*)/.exec(s)?.[1] ?? '';
      s = s.slice(1 + digits.length);
      post = digits.length > 0;
      // Go's leadingFraction: digits past uint64 precision are read and ignored.
      let overflow = false;
      for (const c of digits) {
        if (overflow) continue;
        if (f > MAX_INT64 / 10n) { overflow = true; continue; }
        const y = f * 10n + BigInt(c);
        if (y > 1n << 63n) { overflow = true; continue; }
        f = y;
        scale *= 10;
      }
    }
    if (intPart === '' && !post) invalid();
    const unitLen = /^[^0-9.]*/.exec(s)?.[0].length ?? 0;
    if (unitLen === 0) throw new InstructionError(`time: missing unit in duration ${goQuote(orig)}`);
    const u = s.slice(0, unitLen);
    s = s.slice(unitLen);
    const unit = UNIT_NS[u];
    if (unit === undefined) throw new InstructionError(`time: unknown unit ${goQuote(u)} in duration ${goQuote(orig)}`);
    if (v > (1n << 63n) / unit) invalid();
    v *= unit;
    if (f > 0n) {
      // Go scales the fraction in float64, as here.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > 1n << 63n) invalid();
    }
    total += v;
    if (total > 1n << 63n) invalid();
  }
  if (!neg && total > MAX_INT64) invalid();
  return Number(neg ? -total : total);
}

/** Go's `strconv.ParseInt(s, 10, bits)`. @throws InstructionError */
export function parseGoInt(s: string, bits: number): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new InstructionError(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  const v = BigInt(s);
  const limit = 1n << BigInt(bits - 1);
  if (v >= limit || v < -limit) throw new InstructionError(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  return Number(v);
}

/** Go's `strconv.ParseUint(s, base, bits)` for base 8 or 10; undefined when invalid. */
export function parseGoUint(s: string, base: 8 | 10, bits: number): number | undefined {
  if (!(base === 8 ? /^[0-7]+$/ : /^[0-9]+$/).test(s)) return undefined;
  const v = BigInt(base === 8 ? `0o${s}` : s);
  return v < 1n << BigInt(bits) ? Number(v) : undefined;
}

/** Go's `strconv.ParseBool`; undefined when invalid. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

const RAM_UNITS: Readonly<Record<string, number>> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** go-units `RAMInBytes` (`64m`, `1.5GiB`, `100`, binary multiples); undefined when invalid. */
export function parseRamBytes(text: string): number | undefined {
  const sep = Math.max(...Array.from('0123456789. ', (c) => text.lastIndexOf(c)));
  if (sep < 0) return undefined;
  const num = text[sep] === ' ' ? text.slice(0, sep) : text.slice(0, sep + 1);
  let sfx = text.slice(sep + 1);
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(num)) return undefined;
  let size = Number(num);
  if (size < 0) return undefined;
  if (sfx === '') return Math.trunc(size);
  if (sfx.length > 3) return undefined;
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') return sfx.length > 1 ? undefined : Math.trunc(size);
  const mul = RAM_UNITS[sfx[0] as string];
  if (mul === undefined) return undefined;
  size *= mul;
  if (sfx.length === 2 && sfx[1] !== 'b') return undefined;
  if (sfx.length === 3 && sfx.slice(1) !== 'ib') return undefined;
  return Math.trunc(size);
}
