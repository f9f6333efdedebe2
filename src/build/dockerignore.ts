/**
 * @module build/dockerignore
 * `.dockerignore`: which context paths a build may read. The rules are docker's, from
 * moby/patternmatcher (the code the docker CLI and BuildKit share):
 *
 * - Reading (`ignorefile.ReadAll`): a line starting with `#` is a comment (only at column 0);
 *   lines are trimmed; `!` marks an exception (blanks after it trimmed too); each pattern is
 *   `filepath.Clean`ed (`./a/` → `a`, `a//b` → `a/b`) and a leading `/` is dropped.
 * - Matching (`MatchesOrParentMatches`): patterns are tried in order; the last one that matches
 *   the path *or one of its parent directories* decides (`!` → kept, else excluded). An
 *   inclusion is only tried while the path is not excluded, an exception only while it is.
 * - Pattern syntax (`Pattern.compile`): `*` any run without `/`, `?` one character but `/`,
 *   `[...]` classes, `\` escapes; a double star for any number of directories (`a/<double star>/b`).
 *
 * Directories: an excluded directory is still walked when an exception might re-include
 * something below it (`ignoredDirMayHaveExceptions`), and a kept path keeps its parents.
 */
import { CairnError } from '../errors.js';
import { goTrimSpace } from './shell/chars.js';
import { cleanPath } from '../tar/entry.js';

/** One compiled pattern. */
export interface IgnorePattern {
  /** The cleaned pattern without its `!`. */
  readonly pattern: string;
  readonly exception: boolean;
  /** Its `/`-separated components (for the walk-into-excluded-directory check). */
  readonly dirs: readonly string[];
  readonly match: (path: string) => boolean;
}

/** Go's `path.Clean` for slash-separated paths: the tar entry rule, keeping a leading `/`. */
export function cleanSlashPath(p: string): string {
  if (p === '') return '.';
  const cleaned = cleanPath(p);
  if (!p.startsWith('/')) return cleaned;
  return cleaned === '.' ? '/' : `/${cleaned}`;
}

/**
 * The patterns of a `.dockerignore` file, as docker reads them (comments and blank lines gone,
 * cleaned, leading `/` dropped, `!` kept in front).
 *
 * @example readDockerignore('# c\n/a/b/\n!./keep\n') // ['a/b', '!keep']
 */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  let first = true;
  for (let line of text.split(/\r?\n/)) {
    if (first && line.startsWith('\uFEFF')) line = line.slice(1);
    first = false;
    if (line.startsWith('#')) continue;
    let pattern = goTrimSpace(line);
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanSlashPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

const REGEX_SPECIAL = new Set([...'.+()|{}$']);

/** patternmatcher's `compile`: the pattern as a predicate over slash-separated paths. */
function compile(pattern: string): (path: string) => boolean {
  let re = '^';
  let type: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  const chars = [...pattern];
  for (let i = 0, k = 0; k < chars.length; i++) {
    const ch = chars[k++] as string;
    if (ch === '*') {
      if (chars[k] === '*') {
        k++;
        if (chars[k] === '/') k++;
        if (k >= chars.length) {
          if (type === 'exact') type = 'prefix';
          else {
            re += '.*';
            type = 'regexp';
          }
        } else {
          re += '(.*/)?';
          type = 'regexp';
        }
        if (i === 0) type = 'suffix';
      } else {
        re += '[^/]*';
        type = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      type = 'regexp';
    } else if (REGEX_SPECIAL.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === '\\') {
      if (k < chars.length) {
        const next = chars[k++] as string;
        re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
        type = 'regexp';
      } else {
        re += '\\\\';
      }
    } else if (ch === '[' || ch === ']') {
      re += ch;
      type = 'regexp';
    } else if (ch === '^') {
      // Literal outside a class in Go's Match; a class's own `^` comes after `[` and is kept there.
      re += re.endsWith('[') ? '^' : '\\^';
    } else {
      re += ch;
    }
  }
  switch (type) {
    case 'exact':
      return (p) => p === pattern;
    case 'prefix': {
      const prefix = pattern.slice(0, -2);
      return (p) => p.startsWith(prefix);
    }
    case 'suffix': {
      const suffix = pattern.slice(2);
      return (p) => p.endsWith(suffix) || (suffix.startsWith('/') && p === suffix.slice(1));
    }
    case 'regexp': {
      let regex: RegExp;
      try {
        regex = new RegExp(`${re}$`, 's');
      } catch {
        throw new CairnError('invalid-argument', `.dockerignore: syntax error in pattern "${pattern}"`, { pattern });
      }
      return (p) => regex.test(p);
    }
  }
}

/** Go's `getEsc`: one class character (escapes allowed); returns the index after it, or -1. */
function classChar(chars: readonly string[], i: number): number {
  if (i >= chars.length || chars[i] === '-' || chars[i] === ']') return -1;
  if (chars[i] === '\\') {
    i++;
    if (i >= chars.length) return -1;
  }
  i++;
  return i >= chars.length ? -1 : i;
}

/** Rejects what Go's `filepath.Match(pattern, ".")` rejects (ErrBadPattern): malformed classes, a trailing `\`. */
function checkSyntax(pattern: string): void {
  const bad = (): never => {
    throw new CairnError('invalid-argument', `.dockerignore: syntax error in pattern "${pattern}"`, { pattern });
  };
  const chars = [...pattern];
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i];
    if (ch === '\\') {
      if (i + 1 >= chars.length) bad();
      i += 2;
      continue;
    }
    if (ch !== '[') {
      i++;
      continue;
    }
    i++;
    if (chars[i] === '^') i++;
    let ranges = 0;
    for (;;) {
      if (chars[i] === ']' && ranges > 0) {
        i++;
        break;
      }
      let next = classChar(chars, i);
      if (next < 0) bad();
      i = next;
      if (chars[i] === '-') {
        next = classChar(chars, i + 1);
        if (next < 0) bad();
        i = next;
      }
      ranges++;
    }
  }
}

/**
 * A compiled `.dockerignore` (or `COPY --exclude`) pattern list.
 *
 * @example
 * const ignore = IgnoreMatcher.from(['*.log', '!keep.log']);
 * ignore.excludes('a.log')    // true
 * ignore.excludes('keep.log') // false
 */
export class IgnoreMatcher {
  readonly patterns: readonly IgnorePattern[];
  readonly #exceptions: readonly IgnorePattern[];

  private constructor(patterns: IgnorePattern[]) {
    this.patterns = patterns;
    this.#exceptions = patterns.filter((p) => p.exception);
  }

  /**
   * Compiles patterns (as `readDockerignore` returns them, `!` in front of exceptions).
   * @throws CairnError 'invalid-argument' for `!` alone or a malformed class.
   */
  static from(patterns: readonly string[]): IgnoreMatcher {
    const out: IgnorePattern[] = [];
    for (const raw of patterns) {
      let p = goTrimSpace(raw);
      if (p === '') continue;
      p = cleanSlashPath(p);
      let exception = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new CairnError('invalid-argument', '.dockerignore: illegal exclusion pattern: "!"', { pattern: raw });
        exception = true;
        p = p.slice(1);
      }
      checkSyntax(p);
      out.push({ pattern: p, exception, dirs: p.split('/'), match: compile(p) });
    }
    return new IgnoreMatcher(out);
  }

  /** No patterns at all. */
  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /**
   * Whether `path` (relative, slash-separated, cleaned) is excluded: `MatchesOrParentMatches`.
   * The context root (`.`) is never excluded.
   */
  excludes(path: string): boolean {
    if (path === '.' || path === '') return false;
    const slash = path.lastIndexOf('/');
    const parents = slash < 0 ? [] : path.slice(0, slash).split('/');
    let matched = false;
    for (const pattern of this.patterns) {
      if (pattern.exception !== matched) continue;
      let match = pattern.match(path);
      if (!match) {
        for (let i = 1; i <= parents.length && !match; i++) match = pattern.match(parents.slice(0, i).join('/'));
      }
      if (match) matched = !pattern.exception;
    }
    return matched;
  }

  /**
   * Whether a walk must still look inside the excluded directory `dir`: some exception could
   * name a path below it (its leading components match `dir`'s, or it holds `**`).
   */
  ignoredDirMayHaveExceptions(dir: string): boolean {
    if (this.#exceptions.length === 0) return false;
    const parts = dir.split('/');
    return this.#exceptions.some((p) => {
      if (p.pattern.includes('**')) return true;
      if (p.dirs.length <= parts.length) return false;
      return parts.every((part, i) => componentMatch(p.dirs[i] as string, part));
    });
  }
}

const componentCache = new Map<string, (name: string) => boolean>();

function componentMatch(pattern: string, name: string): boolean {
  let fn = componentCache.get(pattern);
  if (!fn) {
    fn = compile(pattern);
    componentCache.set(pattern, fn);
  }
  return fn(name);
}
