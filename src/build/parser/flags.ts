/**
 * @module build/parser/flags
 * Instruction flags (`--from=…`, `--chown=…`, `--mount=…`): BuildKit's `BFlags`. Each
 * instruction declares the flags it takes; anything else is `unknown flag: --x`, a repeated
 * single-valued flag is an error, booleans take no value or `true`/`false`, string flags need
 * `=value`. Also the "did you mean" search BuildKit uses for unknown names.
 */
import { InstructionError } from './error.js';

type FlagKind = 'bool' | 'string' | 'strings';

/** One declared flag and, after `parse`, its value(s). */
export interface Flag {
  readonly name: string;
  readonly kind: FlagKind;
  /** String value, or `"true"`/`"false"` for booleans. */
  value: string;
  /** Every value of a repeatable flag, in order. */
  values: string[];
}

/** Levenshtein distance with unit costs. */
function distance(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = cur;
  }
  return prev[y.length] as number;
}

/**
 * BuildKit's `suggest.Search`: the closest option under distance 3, undefined on an exact match
 * or none. Case-insensitive search answers in the case the user wrote (`RUNN` → `RUN`).
 */
export function suggest(value: string, options: readonly string[], caseSensitive: boolean): string | undefined {
  const v = caseSensitive ? value : value.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) return undefined;
    const d = distance(v, o);
    if (d < best) {
      best = d;
      match = o;
      if (!caseSensitive) {
        if (value === value.toLowerCase()) match = o.toLowerCase();
        else if (value === value.toUpperCase()) match = o.toUpperCase();
        else match = o;
      }
    }
  }
  return match;
}

/** The flags given to one instruction. */
export class BuildFlags {
  private readonly defs = new Map<string, Flag>();
  private readonly used = new Map<string, Flag>();

  constructor(private readonly args: readonly string[]) {}

  private add(name: string, kind: FlagKind, value: string): Flag {
    const flag: Flag = { name, kind, value, values: [] };
    this.defs.set(name, flag);
    return flag;
  }
  addBool(name: string, def = false): Flag {
    return this.add(name, 'bool', def ? 'true' : 'false');
  }
  addString(name: string, def = ''): Flag {
    return this.add(name, 'string', def);
  }
  addStrings(name: string): Flag {
    return this.add(name, 'strings', '');
  }

  /** True when the flag was given. */
  isUsed(name: string): boolean {
    return this.used.has(name);
  }
  /** The names given, in the order first given (BuildKit's map order is random). */
  usedNames(): string[] {
    return [...this.used.keys()];
  }

  /** Checks the given flags against the declared ones and fills in values. @throws InstructionError */
  parse(): void {
    for (const arg of this.args) {
      // POSIX: `--` ends the options.
      if (arg === '--') return;
      if (!arg.startsWith('--')) throw new InstructionError(`arg should start with -- : ${arg}`);
      const eq = arg.indexOf('=');
      const flagName = eq < 0 ? arg : arg.slice(0, eq);
      const hasValue = eq >= 0;
      const value = hasValue ? arg.slice(eq + 1) : '';
      const name = flagName.slice(2);
      const flag = this.defs.get(name);
      if (!flag) {
        const hint = suggest(name, [...this.defs.keys()], true);
        throw new InstructionError(`unknown flag: ${flagName}`, hint === undefined ? {} : { suggestion: hint });
      }
      if (this.used.has(name) && flag.kind !== 'strings') {
        throw new InstructionError(`duplicate flag specified: ${flagName}`);
      }
      this.used.set(name, flag);
      switch (flag.kind) {
        case 'bool': {
          if (hasValue && value === '') throw new InstructionError(`missing a value on flag: ${flagName}`);
          const v = value.toLowerCase();
          if (v === 'true' || v === '') flag.value = 'true';
          else if (v === 'false') flag.value = 'false';
          else throw new InstructionError(`expecting boolean value for flag ${flagName}, not: ${value}`);
          break;
        }
        case 'string':
          if (!hasValue) throw new InstructionError(`missing a value on flag: ${flagName}`);
          flag.value = value;
          break;
        case 'strings':
          if (!hasValue) throw new InstructionError(`missing a value on flag: ${flagName}`);
          flag.values.push(value);
          break;
      }
    }
  }
}
