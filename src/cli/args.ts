/**
 * @module cli/args
 * A small docker-style argument parser: `--flag`, `--flag=value`, `--flag value`, `-f value`,
 * grouped short booleans (`-it`), repeated options, `--` and, for commands that run another
 * command (`run`, `exec`), parsing stops at the positional where that command starts.
 * `node:util` parseArgs cannot stop at a positional, hence this.
 */
import { CairnError } from '../errors.js';

export interface OptionSpec {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly description: string;
  /** Placeholder in help text, e.g. DIR. */
  readonly value?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export type ParsedOptions<S extends OptionSpecs> = {
  -readonly [K in keyof S]?: S[K]['type'] extends 'boolean' ? boolean : S[K]['multiple'] extends true ? string[] : string;
};

export interface ParseResult<S extends OptionSpecs> {
  readonly options: ParsedOptions<S>;
  readonly positionals: string[];
}

export interface ParseSettings {
  /** Stop option parsing after this many positionals (the rest is passed through verbatim). */
  readonly stopAfterPositionals?: number;
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false };

export function parseArgs<S extends OptionSpecs>(command: string, argv: readonly string[], specs: S, settings: ParseSettings = {}): ParseResult<S> {
  const options: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const bad = (why: string): CairnError => new CairnError('invalid-argument', `${command}: ${why}`, { command });

  const set = (name: string, value: string | boolean): void => {
    const spec = specs[name];
    if (!spec) throw bad(`unknown flag --${name}`);
    if (spec.multiple) ((options[name] ??= []) as unknown[]).push(value);
    else options[name] = value;
  };

  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    i++;
    if (settings.stopAfterPositionals !== undefined && positionals.length >= settings.stopAfterPositionals) {
      positionals.push(arg, ...argv.slice(i));
      break;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = specs[name];
      if (!spec) throw bad(`unknown flag --${name}`);
      if (spec.type === 'boolean') {
        if (eq < 0) set(name, true);
        else {
          const word = BOOLEAN_WORDS[arg.slice(eq + 1)];
          if (word === undefined) throw bad(`--${name} takes true or false, not "${arg.slice(eq + 1)}"`);
          set(name, word);
        }
      } else if (eq >= 0) set(name, arg.slice(eq + 1));
      else {
        if (i >= argv.length) throw bad(`--${name} needs a value`);
        set(name, argv[i++] as string);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // -abc (booleans), -f value, -fvalue, -H=false
      let j = 1;
      while (j < arg.length) {
        const letter = arg[j] as string;
        const name = byShort.get(letter);
        if (!name) throw bad(`unknown flag -${letter}`);
        const spec = specs[name] as OptionSpec;
        if (spec.type === 'boolean') {
          if (arg[j + 1] === '=') {
            const word = BOOLEAN_WORDS[arg.slice(j + 2)];
            if (word === undefined) throw bad(`-${letter} takes true or false, not "${arg.slice(j + 2)}"`);
            set(name, word);
            break;
          }
          set(name, true);
          j++;
          continue;
        }
        const rest = arg.slice(j + 1).replace(/^=/, '');
        if (rest !== '') set(name, rest);
        else {
          if (i >= argv.length) throw bad(`-${letter} needs a value`);
          set(name, argv[i++] as string);
        }
        break;
      }
      continue;
    }
    positionals.push(arg);
  }
  return { options: options as ParsedOptions<S>, positionals };
}

/** Help lines for a set of options, aligned. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'string'}` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(0, ...rows.map(([flag]) => flag.length));
  return rows.map(([flag, description]) => `  ${flag.padEnd(width)}   ${description}`).join('\n');
}
